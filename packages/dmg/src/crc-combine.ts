/** zlib's crc32_combine: CRC32(A‖B) from CRC32(A), CRC32(B) and |B|, in O(log |B|) (GF(2) operators). */
const POLY = 0xedb88320;

function times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  for (let i = 0; vec; vec >>>= 1, i++) if (vec & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function square(out: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) out[n] = times(mat, mat[n]!);
}

export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = POLY;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row >>> 0;
  square(even, odd);
  square(odd, even);
  let c = crc1 >>> 0;
  let n = len2;
  for (;;) {
    square(even, odd);
    if (n % 2) c = times(even, c);
    n = Math.floor(n / 2);
    if (!n) break;
    square(odd, even);
    if (n % 2) c = times(odd, c);
    n = Math.floor(n / 2);
    if (!n) break;
  }
  return (c ^ crc2) >>> 0;
}
