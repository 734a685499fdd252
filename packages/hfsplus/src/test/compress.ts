/** What a Mac writes for decmpfs files, made here for tests: the attribute, resource forks, LZVN. */
import { deflateSync } from 'node:zlib';

/** A plain LZVN encoder (greedy, one hash probe): literals, 16-bit-distance matches, previous-distance runs. */
export function lzvnEncode(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  const table = new Int32Array(1 << 14).fill(-1);
  const hash = (i: number) => (((src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16)) * 2654435761) >>> 18) & 0x3fff;
  let lit = 0;
  const flush = (end: number) => {
    while (lit < end) {
      const n = Math.min(end - lit, 271);
      if (n < 16) out.push(0xe0 | n);
      else out.push(0xe0, n - 16);
      for (let i = 0; i < n; i++) out.push(src[lit + i]!);
      lit += n;
    }
  };
  let i = 0;
  while (i + 3 <= src.length) {
    const h = hash(i);
    const cand = table[h]!;
    table[h] = i;
    const d = i - cand;
    if (cand >= 0 && d > 0 && d < 65536 && src[cand] === src[i] && src[cand + 1] === src[i + 1] && src[cand + 2] === src[i + 2]) {
      let m = 3;
      while (i + m < src.length && src[cand + m] === src[i + m]) m++;
      flush(i);
      const first = Math.min(m, 10);
      out.push(((first - 3) << 3) | 7, d & 255, d >> 8);
      for (let left = m - first; left > 0; ) {
        const n = Math.min(left, 271);
        if (n < 16) out.push(0xf0 | n);
        else out.push(0xf0, n - 16);
        left -= n;
      }
      i += m;
      lit = i;
    } else i++;
  }
  flush(src.length);
  out.push(0x06, 0, 0, 0, 0, 0, 0, 0);
  return Uint8Array.from(out);
}

/** An LZFSE stream of one LZVN block (what Apple's encoder writes for small inputs). */
export function lzfseOfLzvn(src: Uint8Array): Uint8Array {
  const payload = lzvnEncode(src);
  const out = new Uint8Array(12 + payload.length + 4);
  const v = new DataView(out.buffer);
  out.set([0x62, 0x76, 0x78, 0x6e]); // bvxn
  v.setUint32(4, src.length, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, 12);
  out.set([0x62, 0x76, 0x78, 0x24], 12 + payload.length); // bvx$
  return out;
}

/** The com.apple.decmpfs attribute: 'fpmc', type, uncompressed size, inline data. */
export function decmpfsXattr(type: number, size: number, inline = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(16 + inline.length);
  const v = new DataView(b.buffer);
  b.set([0x66, 0x70, 0x6d, 0x63]);
  v.setUint32(4, type, true);
  v.setUint32(8, size % 2 ** 32, true);
  v.setUint32(12, Math.floor(size / 2 ** 32), true);
  b.set(inline, 16);
  return b;
}

export const CHUNK = 65536;

export function chunksOf(data: Uint8Array): Uint8Array[] {
  const out = [];
  for (let o = 0; o < data.length; o += CHUNK) out.push(data.subarray(o, o + CHUNK));
  return out;
}

/** Type 4: a classic resource fork holding one 'cmpf' resource: a block table, then zlib blocks. */
export function zlibResourceFork(data: Uint8Array): Uint8Array {
  const blocks = chunksOf(data).map((c) => new Uint8Array(deflateSync(c)));
  const table = 4 + blocks.length * 8;
  const dataLen = table + blocks.reduce((s, b) => s + b.length, 0);
  const mapOff = 0x100 + 4 + dataLen;
  const fork = new Uint8Array(mapOff + 50);
  const v = new DataView(fork.buffer);
  v.setUint32(0, 0x100); v.setUint32(4, mapOff); v.setUint32(8, dataLen + 4); v.setUint32(12, 50);
  v.setUint32(0x100, dataLen);
  v.setUint32(0x104, blocks.length, true);
  let at = table;
  blocks.forEach((b, i) => {
    v.setUint32(0x108 + i * 8, at, true);
    v.setUint32(0x10c + i * 8, b.length, true);
    fork.set(b, 0x104 + at);
    at += b.length;
  });
  // The resource map: a copy of the header, one type 'cmpf' with one resource of ID 1.
  fork.set(fork.subarray(0, 16), mapOff);
  v.setUint16(mapOff + 24, 28); v.setUint16(mapOff + 26, 50);
  v.setUint16(mapOff + 28, 0);
  fork.set([0x63, 0x6d, 0x70, 0x66], mapOff + 30);
  v.setUint16(mapOff + 34, 0); v.setUint16(mapOff + 36, 10);
  v.setUint16(mapOff + 38, 1); v.setUint16(mapOff + 40, 0xffff);
  return fork;
}

/** Types 8 and 12: the fork starts with count + 1 little-endian offsets, then the blocks. */
export function tableResourceFork(blocks: Uint8Array[]): Uint8Array {
  const head = (blocks.length + 1) * 4;
  const fork = new Uint8Array(head + blocks.reduce((s, b) => s + b.length, 0));
  const v = new DataView(fork.buffer);
  let at = head;
  blocks.forEach((b, i) => {
    v.setUint32(i * 4, at, true);
    fork.set(b, at);
    at += b.length;
  });
  v.setUint32(blocks.length * 4, at, true);
  return fork;
}

/** Text that compresses like real files do. */
export function sampleText(bytes: number, seed = 1): Uint8Array {
  const words = ['apple', 'volume', 'catalog', 'extent', 'fork', 'node', 'leaf', 'index', 'header', 'journal', 'résumé', 'ファイル'];
  let s = '';
  let x = seed;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += words[x % words.length] + (x % 7 === 0 ? '\n' : ' ');
  }
  return new TextEncoder().encode(s).subarray(0, bytes);
}
