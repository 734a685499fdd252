/** The 16-byte descriptor tag (ECMA-167 3/7.2) every UDF descriptor starts with: checksum and CRC checked. */
import { CorruptImageError } from '@diskit/core';

export const TAG = {
  PVD: 1,
  AVDP: 2,
  VDP: 3,
  IUVD: 4,
  PD: 5,
  LVD: 6,
  USD: 7,
  TD: 8,
  LVID: 9,
  FSD: 256,
  FID: 257,
  AED: 258,
  IE: 259,
  TE: 260,
  FE: 261,
  EAHD: 262,
  USE: 263,
  SBD: 264,
  PIE: 265,
  EFE: 266,
} as const;

export interface Tag {
  id: number;
  version: number;
  crcLength: number;
  location: number;
}

/** CRC-ITU-T (polynomial 0x1021, initial 0), as ECMA-167 1/7.2.6 specifies. */
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16(b: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < b.length; i++) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc;
}

export function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Parse and verify a tag at the start of `b` (the whole descriptor): the checksum over the tag,
 * the CRC over `crcLength` bytes after it, and the recorded location (`expectLocation`, a logical or
 * physical block number) — a descriptor found somewhere it does not claim to be is not trusted.
 */
export function readTag(b: Uint8Array, where: string, offset: number, expectId?: number | number[], expectLocation?: number): Tag {
  if (b.length < 16) throw new CorruptImageError(where, offset, 'a 16-byte descriptor tag', `${b.length} bytes`);
  const v = dv(b);
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum += b[i]!;
  if ((sum & 0xff) !== b[4]) throw new CorruptImageError(where, offset, `tag checksum ${b[4]}`, String(sum & 0xff));
  const tag = { id: v.getUint16(0, true), version: v.getUint16(2, true), crcLength: v.getUint16(10, true), location: v.getUint32(12, true) };
  const ids = expectId === undefined ? undefined : Array.isArray(expectId) ? expectId : [expectId];
  if (ids && !ids.includes(tag.id)) throw new CorruptImageError(where, offset, `descriptor tag ${ids.join(' or ')}`, String(tag.id));
  if (tag.version !== 2 && tag.version !== 3) throw new CorruptImageError(where, offset, 'descriptor version 2 or 3', String(tag.version));
  if (16 + tag.crcLength > b.length) throw new CorruptImageError(where, offset, `a CRC length within the ${b.length}-byte descriptor`, String(tag.crcLength));
  const crc = v.getUint16(8, true);
  if (tag.crcLength > 0 && crc16(b.subarray(16, 16 + tag.crcLength)) !== crc) throw new CorruptImageError(where, offset, `descriptor CRC ${crc}`, String(crc16(b.subarray(16, 16 + tag.crcLength))));
  if (expectLocation !== undefined && tag.location !== expectLocation) throw new CorruptImageError(where, offset, `tag location ${expectLocation}`, String(tag.location));
  return tag;
}

/** A tag that might be there: the id, or undefined when the bytes are not a valid tag. */
export function peekTag(b: Uint8Array): number | undefined {
  try {
    return readTag(b, 'tag', 0).id;
  } catch {
    return undefined;
  }
}
