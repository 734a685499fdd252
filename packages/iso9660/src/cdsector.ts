/** Raw 2352-byte CD sectors: sync, MSF header, EDC (CRC32 0xD8018001) and Reed-Solomon P/Q ECC. */

export const RAW_SECTOR = 2352;
export const SYNC = Uint8Array.of(0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00);

const eccF = new Uint8Array(256);
const eccB = new Uint8Array(256);
const edcLut = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  const j = ((i << 1) ^ (i & 0x80 ? 0x11d : 0)) & 0xff;
  eccF[i] = j;
  eccB[i ^ j] = i;
  let edc = i;
  for (let k = 0; k < 8; k++) edc = (edc >>> 1) ^ (edc & 1 ? 0xd8018001 : 0);
  edcLut[i] = edc >>> 0;
}

export function edc(b: Uint8Array, start: number, end: number): number {
  let e = 0;
  for (let i = start; i < end; i++) e = (e >>> 8) ^ edcLut[(e ^ b[i]!) & 0xff]!;
  return e >>> 0;
}

function eccBlock(s: Uint8Array, majorCount: number, minorCount: number, majorMult: number, minorInc: number, dest: number): void {
  const size = majorCount * minorCount;
  for (let major = 0; major < majorCount; major++) {
    let index = (major >> 1) * majorMult + (major & 1);
    let a = 0, b = 0;
    for (let minor = 0; minor < minorCount; minor++) {
      const t = s[0x0c + index]!;
      index += minorInc;
      if (index >= size) index -= size;
      a ^= t;
      b ^= t;
      a = eccF[a]!;
    }
    a = eccB[eccF[a]! ^ b]!;
    s[dest + major] = a;
    s[dest + major + majorCount] = a ^ b;
  }
}

function bcd(n: number): number {
  return ((Math.floor(n / 10) % 10) << 4) | (n % 10);
}

/** MSF address of logical sector `lba` (with the 2-second lead-in offset). */
export function msf(lba: number): [number, number, number] {
  const a = lba + 150;
  return [Math.floor(a / (75 * 60)), Math.floor(a / 75) % 60, a % 75];
}

/** Fill `out` (2352 bytes) with a MODE1 sector holding `user` (2048 bytes) at `lba`. */
export function encodeMode1(user: Uint8Array, lba: number, out: Uint8Array): void {
  out.set(SYNC, 0);
  const [m, s, f] = msf(lba);
  out[12] = bcd(m);
  out[13] = bcd(s);
  out[14] = bcd(f);
  out[15] = 1;
  out.set(user.subarray(0, 2048), 16);
  const e = edc(out, 0, 0x810);
  out[0x810] = e & 0xff;
  out[0x811] = (e >>> 8) & 0xff;
  out[0x812] = (e >>> 16) & 0xff;
  out[0x813] = e >>> 24;
  out.fill(0, 0x814, 0x81c);
  eccBlock(out, 86, 24, 2, 86, 0x81c);
  eccBlock(out, 52, 43, 86, 88, 0x8c8);
}

/** Verify a raw sector's EDC (MODE1, or MODE2 form 1). */
export function checkSectorEdc(raw: Uint8Array): boolean {
  const mode = raw[15];
  if (mode === 1) {
    const e = edc(raw, 0, 0x810);
    return e === ((raw[0x810]! | (raw[0x811]! << 8) | (raw[0x812]! << 16) | (raw[0x813]! << 24)) >>> 0);
  }
  if (mode === 2 && !(raw[18]! & 0x20)) {
    const e = edc(raw, 16, 0x818);
    return e === ((raw[0x818]! | (raw[0x819]! << 8) | (raw[0x81a]! << 16) | (raw[0x81b]! << 24)) >>> 0);
  }
  return true;
}

export function hasSync(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 12; i++) if (b[off + i] !== SYNC[i]) return false;
  return true;
}

/** A CUE sheet for a single-track MODE1/2352 BIN. */
export function cueSheet(binName: string, mode: 'MODE1/2352' | 'MODE2/2352' = 'MODE1/2352'): string {
  return `FILE "${binName.replace(/"/g, '')}" BINARY\n  TRACK 01 ${mode}\n    INDEX 01 00:00:00\n`;
}
