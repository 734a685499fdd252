/**
 * A bzip2 encoder (isomorphic): RLE1 → BWT (prefix doubling over cyclic rotations, radix sorted)
 * → MTF + RLE2 → up to six Huffman tables chosen per 50 symbols, as the reference bzip2 does.
 *
 * One self-contained function (it uses nothing outside itself), because the Node entry runs its
 * source text on worker threads. Output is a whole stream ("BZh9" … end-of-stream mark), which is
 * what a UDBZ chunk holds.
 */
export function bzip2Encode(input: Uint8Array, level = 9): Uint8Array {
  const crcTable = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    crcTable[i] = c >>> 0;
  }

  // ---- bit writer (MSB first) ----
  let out = new Uint8Array(Math.max(1024, (input.length >> 1) + 1024));
  let outPos = 0;
  let bitBuf = 0;
  let bitCount = 0;
  const put = (n: number, v: number) => {
    // n <= 24
    bitBuf = (bitBuf << n) | (v & ((1 << n) - 1));
    bitCount += n;
    while (bitCount >= 8) {
      if (outPos >= out.length) {
        const grown = new Uint8Array(out.length * 2);
        grown.set(out);
        out = grown;
      }
      bitCount -= 8;
      out[outPos++] = (bitBuf >>> bitCount) & 0xff;
    }
    bitBuf &= (1 << bitCount) - 1;
  };
  const put32 = (v: number) => {
    put(16, v >>> 16);
    put(16, v & 0xffff);
  };

  const blockMax = level * 100000 - 19;
  const block = new Uint8Array(blockMax + 5);
  let combined = 0;
  // Work arrays for the largest block, allocated once per stream and shared by its blocks
  // (fresh arrays per block left the worker threads holding ~60 MiB of garbage).
  const cap = blockMax + 5;
  const saBuf = new Int32Array(cap);
  const rankBuf = new Int32Array(cap);
  const nextBuf = new Int32Array(cap);
  const shiftedBuf = new Int32Array(cap);
  const cntBuf = new Int32Array(Math.max(256, cap));
  const lastBuf = new Uint8Array(cap);
  const mtfBuf = new Uint16Array(cap + 1);

  put(8, 0x42);
  put(8, 0x5a);
  put(8, 0x68);
  put(8, 0x30 + level);

  // ---- RLE1 into blocks: runs of 4..255 equal bytes become 4 bytes and a count ----
  let pos = 0;
  while (pos < input.length) {
    let n = 0;
    let crc = 0xffffffff;
    while (pos < input.length && n <= blockMax - 5) {
      const b = input[pos]!;
      let run = 1;
      while (run < 255 && pos + run < input.length && input[pos + run] === b) run++;
      for (let k = 0; k < run; k++) crc = ((crc << 8) ^ crcTable[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
      if (run >= 4) {
        block[n++] = b;
        block[n++] = b;
        block[n++] = b;
        block[n++] = b;
        block[n++] = run - 4;
      } else for (let k = 0; k < run; k++) block[n++] = b;
      pos += run;
    }
    crc = ~crc >>> 0;
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
    writeBlock(block.subarray(0, n), crc);
  }

  put(24, 0x177245);
  put(24, 0x385090);
  put32(combined);
  if (bitCount > 0) put(8 - bitCount, 0);
  return out.slice(0, outPos);

  function writeBlock(data: Uint8Array, crc: number) {
    const n = data.length;
    // ---- BWT: sort the cyclic rotations by prefix doubling (each round two counting sorts) ----
    const sa = saBuf.subarray(0, n);
    let rank = rankBuf.subarray(0, n);
    let next = nextBuf.subarray(0, n);
    const shifted = shiftedBuf.subarray(0, n);
    const cnt = cntBuf;
    cnt.fill(0, 0, 256);
    for (let i = 0; i < n; i++) cnt[data[i]!]!++;
    for (let i = 1; i < 256; i++) cnt[i]! += cnt[i - 1]!;
    for (let i = n - 1; i >= 0; i--) sa[--cnt[data[i]!]!] = i;
    let classes = 1;
    rank[sa[0]!] = 0;
    for (let i = 1; i < n; i++) {
      if (data[sa[i]!] !== data[sa[i - 1]!]) classes++;
      rank[sa[i]!] = classes - 1;
    }
    for (let k = 1; k < n && classes < n; k <<= 1) {
      // Ordered by the second half already (sa is sorted by the first k bytes): step back k.
      for (let i = 0; i < n; i++) {
        const s = sa[i]! - k;
        shifted[i] = s < 0 ? s + n : s;
      }
      cnt.fill(0, 0, classes);
      for (let i = 0; i < n; i++) cnt[rank[shifted[i]!]!]!++;
      for (let i = 1; i < classes; i++) cnt[i]! += cnt[i - 1]!;
      for (let i = n - 1; i >= 0; i--) sa[--cnt[rank[shifted[i]!]!]!] = shifted[i]!;
      next[sa[0]!] = 0;
      classes = 1;
      for (let i = 1; i < n; i++) {
        const a = sa[i]!;
        const b = sa[i - 1]!;
        const a2 = a + k >= n ? a + k - n : a + k;
        const b2 = b + k >= n ? b + k - n : b + k;
        if (rank[a] !== rank[b] || rank[a2] !== rank[b2]) classes++;
        next[a] = classes - 1;
      }
      const t = rank;
      rank = next;
      next = t;
    }
    let origPtr = 0;
    const last = lastBuf.subarray(0, n);
    for (let i = 0; i < n; i++) {
      const s = sa[i]!;
      if (s === 0) origPtr = i;
      last[i] = data[s === 0 ? n - 1 : s - 1]!;
    }

    // ---- MTF + RLE2 (zero runs as RUNA/RUNB) over the bytes in use ----
    const inUse = new Uint8Array(256);
    for (let i = 0; i < n; i++) inUse[last[i]!] = 1;
    const unseqToSeq = new Uint8Array(256);
    let nInUse = 0;
    for (let i = 0; i < 256; i++) if (inUse[i]) unseqToSeq[i] = nInUse++;
    const alphaSize = nInUse + 2;
    const eob = nInUse + 1;
    const mtf = mtfBuf;
    let nMtf = 0;
    const freq = new Int32Array(alphaSize);
    const order = new Uint8Array(256);
    for (let i = 0; i < nInUse; i++) order[i] = i;
    let zeros = 0;
    const flushZeros = () => {
      if (zeros === 0) return;
      let z = zeros - 1;
      for (;;) {
        const sym = z & 1;
        mtf[nMtf++] = sym;
        freq[sym]!++;
        if (z < 2) break;
        z = (z - 2) >> 1;
      }
      zeros = 0;
    };
    for (let i = 0; i < n; i++) {
      const s = unseqToSeq[last[i]!]!;
      if (order[0] === s) {
        zeros++;
        continue;
      }
      flushZeros();
      let j = 1;
      let prev = order[0]!;
      order[0] = s;
      while (order[j] !== s) {
        const t = order[j]!;
        order[j] = prev;
        prev = t;
        j++;
      }
      order[j] = prev;
      mtf[nMtf++] = j + 1;
      freq[j + 1]!++;
    }
    flushZeros();
    mtf[nMtf++] = eob;
    freq[eob]!++;

    // ---- Huffman tables: start from equal-frequency slices, refine four times ----
    const nGroups = nMtf < 200 ? 2 : nMtf < 600 ? 3 : nMtf < 1200 ? 4 : nMtf < 2400 ? 5 : 6;
    const lens = Array.from({ length: nGroups }, () => new Uint8Array(alphaSize));
    {
      let remaining = nMtf;
      let gs = 0;
      for (let part = nGroups; part > 0; part--) {
        const target = remaining / part;
        let ge = gs - 1;
        let acc = 0;
        while (acc < target && ge < alphaSize - 1) acc += freq[++ge]!;
        if (ge > gs && part !== nGroups && part !== 1 && (nGroups - part) % 2 === 1) acc -= freq[ge--]!;
        const t = lens[part - 1]!;
        for (let v = 0; v < alphaSize; v++) t[v] = v >= gs && v <= ge ? 0 : 15;
        gs = ge + 1;
        remaining -= acc;
      }
    }
    const nSelectors = Math.ceil(nMtf / 50);
    const selectors = new Uint8Array(nSelectors);
    const tableFreq = Array.from({ length: nGroups }, () => new Int32Array(alphaSize));
    for (let iter = 0; iter < 4; iter++) {
      for (const f of tableFreq) f.fill(0);
      for (let g = 0, gs = 0; gs < nMtf; g++, gs += 50) {
        const ge = Math.min(gs + 50, nMtf);
        let best = 0;
        let bestCost = Infinity;
        for (let t = 0; t < nGroups; t++) {
          const l = lens[t]!;
          let cost = 0;
          for (let i = gs; i < ge; i++) cost += l[mtf[i]!]!;
          if (cost < bestCost) {
            bestCost = cost;
            best = t;
          }
        }
        selectors[g] = best;
        const f = tableFreq[best]!;
        for (let i = gs; i < ge; i++) f[mtf[i]!]!++;
      }
      for (let t = 0; t < nGroups; t++) codeLengths(tableFreq[t]!, lens[t]!, 17);
    }

    // ---- write the block ----
    put(24, 0x314159);
    put(24, 0x265359);
    put32(crc);
    put(1, 0);
    put(24, origPtr);
    let used16 = 0;
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 16; j++) if (inUse[i * 16 + j]) used16 |= 0x8000 >> i;
    }
    put(16, used16);
    for (let i = 0; i < 16; i++) {
      if (!(used16 & (0x8000 >> i))) continue;
      let bits = 0;
      for (let j = 0; j < 16; j++) if (inUse[i * 16 + j]) bits |= 0x8000 >> j;
      put(16, bits);
    }
    put(3, nGroups);
    put(15, nSelectors);
    const selOrder = Array.from({ length: nGroups }, (_, i) => i);
    for (let g = 0; g < nSelectors; g++) {
      const s = selectors[g]!;
      const j = selOrder.indexOf(s);
      for (let k = 0; k < j; k++) put(1, 1);
      put(1, 0);
      selOrder.splice(j, 1);
      selOrder.unshift(s);
    }
    const codes = lens.map((l) => {
      let curr = l[0]!;
      put(5, curr);
      for (let v = 0; v < alphaSize; v++) {
        while (curr < l[v]!) {
          put(2, 2);
          curr++;
        }
        while (curr > l[v]!) {
          put(2, 3);
          curr--;
        }
        put(1, 0);
      }
      // Canonical codes: by length, then by symbol.
      const c = new Int32Array(alphaSize);
      let code = 0;
      for (let len = 1; len <= 20; len++) {
        for (let v = 0; v < alphaSize; v++) if (l[v] === len) c[v] = code++;
        code <<= 1;
      }
      return c;
    });
    for (let g = 0, gs = 0; gs < nMtf; g++, gs += 50) {
      const t = selectors[g]!;
      const l = lens[t]!;
      const c = codes[t]!;
      for (let i = gs, ge = Math.min(gs + 50, nMtf); i < ge; i++) {
        const v = mtf[i]!;
        put(l[v]!, c[v]!);
      }
    }
  }

  /** Huffman code lengths for `freq` (a zero counts as one), none longer than `maxLen`. */
  function codeLengths(freq: Int32Array, lenOut: Uint8Array, maxLen: number) {
    const m = freq.length;
    const w = new Float64Array(m);
    for (let i = 0; i < m; i++) w[i] = Math.max(1, freq[i]!);
    for (;;) {
      // Two-queue Huffman: leaves sorted by weight, internal nodes made in nondecreasing order.
      const leaves = Array.from({ length: m }, (_, i) => i).sort((a, b) => w[a]! - w[b]! || a - b);
      const weight = new Float64Array(2 * m);
      const parent = new Int32Array(2 * m).fill(-1);
      for (let i = 0; i < m; i++) weight[i] = w[i]!;
      let li = 0;
      let ni = m;
      let nodes = m;
      const pick = () => (li < m && (ni >= nodes || weight[leaves[li]!]! <= weight[ni]!) ? leaves[li++]! : ni++);
      while (nodes < 2 * m - 1) {
        const a = pick();
        const b = pick();
        weight[nodes] = weight[a]! + weight[b]!;
        parent[a] = nodes;
        parent[b] = nodes;
        nodes++;
      }
      let tooLong = false;
      for (let i = 0; i < m; i++) {
        let d = 0;
        for (let p = i; parent[p]! >= 0; p = parent[p]!) d++;
        lenOut[i] = d;
        if (d > maxLen) tooLong = true;
      }
      if (!tooLong) return;
      // As bzip2 does: flatten the weights and build again.
      for (let i = 0; i < m; i++) w[i] = 1 + Math.floor(w[i]! / 2);
    }
  }
}
