/**
 * A small LZVN encoder for fixtures: greedy matches found through a hash of 3-byte prefixes,
 * written as literal runs, 16-bit-distance matches and matches at the previous distance.
 */
export function lzvnEncode(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let lit: number[] = [];
  const flush = () => {
    for (let i = 0; i < lit.length; ) {
      const n = Math.min(271, lit.length - i);
      if (n >= 16) out.push(0xe0, n - 16);
      else out.push(0xe0 | n);
      for (let k = 0; k < n; k++) out.push(lit[i + k]!);
      i += n;
    }
    lit = [];
  };
  const last = new Map<number, number>();
  const h = (i: number) => data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16);
  let i = 0;
  while (i < data.length) {
    let len = 0, dist = 0;
    if (i + 3 <= data.length) {
      const p = last.get(h(i));
      last.set(h(i), i);
      if (p !== undefined && i - p <= 0xffff) {
        while (i + len < data.length && data[p + len] === data[i + len] && len < 100000) len++;
        dist = i - p;
      }
    }
    if (len >= 3) {
      flush();
      const first = Math.min(len, 10);
      out.push(((first - 3) << 3) | 7, dist & 0xff, dist >> 8); // match with a 16-bit distance
      let rest = len - first;
      while (rest >= 16) {
        const m = Math.min(271, rest);
        out.push(0xf0, m - 16); // large match at the previous distance
        rest -= m;
      }
      if (rest) out.push(0xf0 | rest); // small match at the previous distance
      for (let k = 1; k < len && i + k + 3 <= data.length; k++) last.set(h(i + k), i + k);
      i += len;
    } else {
      lit.push(data[i]!);
      i++;
    }
  }
  flush();
  out.push(0x06, 0, 0, 0, 0, 0, 0, 0);
  return Uint8Array.from(out);
}

/** An LZFSE stream of stored blocks (bvx-), ended by bvx$. */
export function lzfseStored(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x2d787662, true);
  dv.setUint32(4, data.length, true);
  out.set(data, 8);
  dv.setUint32(8 + data.length, 0x24787662, true);
  return out;
}
