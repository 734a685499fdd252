/** CRC32 (IEEE, reflected 0xEDB88320) and CRC32C (Castagnoli, 0x82F63B78), slicing-by-8 tables. */

function makeTables(poly: number): Uint32Array[] {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[0]![i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) t[k]![i] = (t[0]![t[k - 1]![i]! & 0xff]! ^ (t[k - 1]![i]! >>> 8)) >>> 0;
  }
  return t;
}

function makeCrc(poly: number) {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = makeTables(poly) as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  /** Continue a CRC over `data`; start with `crc = 0`. */
  return function update(data: Uint8Array, crc = 0): number {
    let c = ~crc >>> 0;
    let i = 0;
    const n = data.length;
    const n8 = n - (n & 7);
    for (; i < n8; i += 8) {
      const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
      c =
        t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
        t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
    }
    for (; i < n; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  };
}

export const crc32 = makeCrc(0xedb88320);
export const crc32c = makeCrc(0x82f63b78);
