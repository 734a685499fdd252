/**
 * A bzip2 decoder (isomorphic, no Buffer): Huffman + MTF + RLE2 → inverse BWT → RLE1, with
 * block and stream CRCs checked. Output is bounded by the size the caller expects.
 */

export class Bzip2Error extends Error {
  override name = 'Bzip2Error';
}

/**
 * Makes the decoder. The factory is self-contained (it uses nothing outside itself), because the
 * Node worker threads run its source text; `Err` is the error class the decoder throws.
 */
export function makeBunzip2(Err: new (message: string) => Error): (src: Uint8Array, outSize: number) => Uint8Array {
  const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
      t[i] = c >>> 0;
    }
    return t;
  })();

  class Bits {
    private buf = 0;
    private n = 0;
    pos = 0;
    constructor(private readonly src: Uint8Array) {}
    get(count: number): number {
      // count <= 24
      while (this.n < count) {
        if (this.pos >= this.src.length) throw new Err('bzip2 stream truncated');
        this.buf = ((this.buf << 8) | this.src[this.pos++]!) >>> 0;
        this.n += 8;
      }
      this.n -= count;
      const v = (this.buf >>> this.n) & ((1 << count) - 1);
      this.buf &= (1 << this.n) - 1;
      return v;
    }
    bit(): number {
      return this.get(1);
    }
    /** Drop bits up to the next byte boundary. */
    align(): void {
      this.n -= this.n & 7;
      this.buf &= (1 << this.n) - 1;
    }
    get atEnd(): boolean {
      return this.pos >= this.src.length && this.n < 8;
    }
  }

  interface Table {
    minLen: number;
    maxLen: number;
    limit: Int32Array;
    base: Int32Array;
    perm: Uint16Array;
  }

  function buildTable(lengths: Uint8Array, alphaSize: number): Table {
    let minLen = 32, maxLen = 0;
    for (let i = 0; i < alphaSize; i++) {
      minLen = Math.min(minLen, lengths[i]!);
      maxLen = Math.max(maxLen, lengths[i]!);
    }
    const perm = new Uint16Array(alphaSize);
    let pp = 0;
    for (let len = minLen; len <= maxLen; len++) for (let s = 0; s < alphaSize; s++) if (lengths[s] === len) perm[pp++] = s;
    const limit = new Int32Array(22).fill(-1), base = new Int32Array(22);
    let code = 0, idx = 0;
    for (let len = minLen; len <= maxLen; len++) {
      let count = 0;
      for (let s = 0; s < alphaSize; s++) if (lengths[s] === len) count++;
      // codes of this length are [code, code+count); symbol = perm[idx + (c - code)]
      base[len] = idx - code;
      limit[len] = code + count - 1;
      idx += count;
      code = (code + count) << 1;
    }
    return { minLen, maxLen, limit, base, perm };
  }

  /** Decode one bzip2 stream (or several concatenated) into exactly `outSize` bytes. */
  return function bunzip2(src: Uint8Array, outSize: number): Uint8Array {
    const out = new Uint8Array(outSize);
    let o = 0;
    const bits = new Bits(src);
    let streams = 0;
    while (!bits.atEnd) {
      if (bits.get(8) !== 0x42 || bits.get(8) !== 0x5a || bits.get(8) !== 0x68) {
        if (streams) break; // trailing padding after a complete stream
        throw new Err('not a bzip2 stream (no BZh signature)');
      }
      const level = bits.get(8) - 0x30;
      if (level < 1 || level > 9) throw new Err(`bad bzip2 block size ${level}`);
      const blockMax = level * 100000;
      const tt = new Uint32Array(blockMax);
      let streamCrc = 0;
      for (;;) {
        const m1 = bits.get(24), m2 = bits.get(24);
        if (m1 === 0x177245 && m2 === 0x385090) {
          const want = ((bits.get(16) << 16) | bits.get(16)) >>> 0;
          if (want !== streamCrc) throw new Err('bzip2 stream CRC mismatch');
          bits.align();
          break;
        }
        if (m1 !== 0x314159 || m2 !== 0x265359) throw new Err('bad bzip2 block magic');
        const blockCrc = ((bits.get(16) << 16) | bits.get(16)) >>> 0;
        if (bits.bit()) throw new Err('randomised bzip2 blocks are not supported');
        const origPtr = bits.get(24);
        // Symbol map.
        const used = bits.get(16);
        const seqToUnseq = new Uint8Array(256);
        let nInUse = 0;
        for (let i = 0; i < 16; i++) {
          if (used & (0x8000 >> i)) {
            const w = bits.get(16);
            for (let j = 0; j < 16; j++) if (w & (0x8000 >> j)) seqToUnseq[nInUse++] = i * 16 + j;
          }
        }
        if (nInUse === 0) throw new Err('bzip2 block uses no symbols');
        const alphaSize = nInUse + 2;
        const nGroups = bits.get(3);
        if (nGroups < 2 || nGroups > 6) throw new Err(`bad bzip2 group count ${nGroups}`);
        const nSelectors = bits.get(15);
        if (nSelectors < 1) throw new Err('bzip2 block without selectors');
        const mtfGroups = [0, 1, 2, 3, 4, 5].slice(0, nGroups);
        const selectors = new Uint8Array(nSelectors);
        for (let i = 0; i < nSelectors; i++) {
          let j = 0;
          while (bits.bit()) if (++j >= nGroups) throw new Err('bad bzip2 selector');
          const v = mtfGroups[j]!;
          mtfGroups.splice(j, 1);
          mtfGroups.unshift(v);
          selectors[i] = v;
        }
        const tables: Table[] = [];
        for (let g = 0; g < nGroups; g++) {
          const lengths = new Uint8Array(alphaSize);
          let len = bits.get(5);
          for (let s = 0; s < alphaSize; s++) {
            for (;;) {
              if (len < 1 || len > 20) throw new Err('bad bzip2 code length');
              if (!bits.bit()) break;
              len += bits.bit() ? -1 : 1;
            }
            lengths[s] = len;
          }
          tables.push(buildTable(lengths, alphaSize));
        }
        // Huffman → MTF/RLE2 → tt.
        const mtf = new Uint8Array(256);
        for (let i = 0; i < 256; i++) mtf[i] = i;
        const counts = new Uint32Array(256);
        let n = 0, groupLeft = 0, sel = 0, table = tables[0]!;
        let runLen = 0, runWeight = 1;
        const eob = alphaSize - 1;
        for (;;) {
          if (groupLeft === 0) {
            if (sel >= nSelectors) throw new Err('bzip2 selectors exhausted');
            table = tables[selectors[sel++]!]!;
            groupLeft = 50;
          }
          groupLeft--;
          let len = table.minLen;
          let code = bits.get(len);
          while (len <= table.maxLen && code > table.limit[len]!) {
            code = (code << 1) | bits.bit();
            len++;
          }
          if (len > table.maxLen) throw new Err('bad bzip2 Huffman code');
          const sym = table.perm[table.base[len]! + code]!;
          if (sym <= 1) {
            runLen += runWeight << sym;
            runWeight <<= 1;
            if (runLen > blockMax) throw new Err('bzip2 run past the block size');
            continue;
          }
          if (runLen) {
            if (n + runLen > blockMax) throw new Err('bzip2 block overflows');
            const b = seqToUnseq[mtf[0]!]!;
            counts[b]! += runLen;
            tt.fill(b, n, n + runLen);
            n += runLen;
            runLen = 0;
            runWeight = 1;
          }
          if (sym === eob) break;
          if (n >= blockMax) throw new Err('bzip2 block overflows');
          const idx = sym - 1;
          const v = mtf[idx]!;
          mtf.copyWithin(1, 0, idx);
          mtf[0] = v;
          const b = seqToUnseq[v]!;
          counts[b]!++;
          tt[n++] = b;
        }
        if (origPtr >= n) throw new Err('bzip2 origPtr out of range');
        // Inverse BWT.
        const cum = new Uint32Array(256);
        for (let i = 0, sum = 0; i < 256; i++) {
          cum[i] = sum;
          sum += counts[i]!;
        }
        for (let i = 0; i < n; i++) {
          const b = tt[i]! & 0xff;
          tt[cum[b]!++]! |= i << 8;
        }
        // Walk, undoing RLE1 (4 equal bytes then a repeat count), with the block CRC.
        let pos = tt[origPtr]! >>> 8;
        let crc = 0xffffffff;
        let last = -1, same = 0;
        const emit = (b: number) => {
          if (o >= outSize) throw new Err(`bzip2 chunk decompresses past its ${outSize} bytes`);
          out[o++] = b;
          crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
        };
        for (let i = 0; i < n; i++) {
          const e = tt[pos]!;
          const b = e & 0xff;
          pos = e >>> 8;
          if (same === 4) {
            for (let k = 0; k < b; k++) emit(last);
            same = 0;
            last = -1;
            continue;
          }
          if (b === last) same++;
          else {
            last = b;
            same = 1;
          }
          emit(b);
        }
        crc = ~crc >>> 0;
        if (crc !== blockCrc) throw new Err('bzip2 block CRC mismatch');
        streamCrc = (((streamCrc << 1) | (streamCrc >>> 31)) ^ crc) >>> 0;
        tt.fill(0, 0, n);
      }
      streams++;
    }
    if (o !== outSize) throw new Err(`bzip2 chunk decoded to ${o} bytes, expected ${outSize}`);
    return out;
  };
}

/** Decode one bzip2 stream (or several concatenated) into exactly `outSize` bytes. */
export const bunzip2 = makeBunzip2(Bzip2Error);
