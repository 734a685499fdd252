/** Attribute headers inside an MFT record: resident (value inline) or non-resident (a runlist). */
import { CorruptImageError } from '@diskit/core';
import { u16, u32, u64, utf16 } from './bytes.js';

export const AT = {
  STANDARD_INFORMATION: 0x10,
  ATTRIBUTE_LIST: 0x20,
  FILE_NAME: 0x30,
  VOLUME_NAME: 0x60,
  VOLUME_INFORMATION: 0x70,
  DATA: 0x80,
  INDEX_ROOT: 0x90,
  INDEX_ALLOCATION: 0xa0,
  BITMAP: 0xb0,
  REPARSE_POINT: 0xc0,
  END: 0xffffffff,
} as const;

export const ATTR_COMPRESSED = 0x0001;
export const ATTR_ENCRYPTED = 0x4000;
export const ATTR_SPARSE = 0x8000;

export interface Attribute {
  type: number;
  name: string;
  flags: number;
  id: number;
  /** Byte offset of the header in the image, for messages. */
  offset: number;
  /** Resident: the value. */
  value?: Uint8Array;
  /** Non-resident: */
  startVcn: number;
  lastVcn: number;
  /** The runlist's bytes (decoded by runlist.ts). */
  runlist?: Uint8Array;
  compressionUnit: number;
  allocatedSize: number;
  dataSize: number;
  initializedSize: number;
}

/** Parse the attributes of a fixed-up record whose attributes start at `first` and end by `used`. */
export function parseAttributes(rec: Uint8Array, first: number, used: number, recordOffset: number): Attribute[] {
  const out: Attribute[] = [];
  let pos = first;
  const bad = (at: number, what: string, found: unknown) => new CorruptImageError('NTFS attribute', recordOffset + at, what, String(found));
  for (let n = 0; ; n++) {
    if (pos + 4 > used) throw bad(pos, 'an attribute or the end marker within the record', `record used size ${used}`);
    const type = u32(rec, pos);
    if (type === AT.END) break;
    if (n > 512) throw bad(pos, 'at most 512 attributes', n);
    if (pos + 0x18 > used) throw bad(pos, 'a whole attribute header', `record used size ${used}`);
    const length = u32(rec, pos + 4);
    if (length < 0x18 || length & 7 || pos + length > used) throw bad(pos + 4, `a length 24..${used - pos}, multiple of 8`, length);
    const nonResident = rec[pos + 8]!;
    const nameLength = rec[pos + 9]!;
    const nameOffset = u16(rec, pos + 10);
    if (nameLength && nameOffset + nameLength * 2 > length) throw bad(pos + 10, 'a name inside the attribute', `${nameLength} chars at ${nameOffset}`);
    const a: Attribute = {
      type, name: nameLength ? utf16(rec, pos + nameOffset, nameLength) : '', flags: u16(rec, pos + 12), id: u16(rec, pos + 14), offset: recordOffset + pos,
      startVcn: 0, lastVcn: -1, compressionUnit: 0, allocatedSize: 0, dataSize: 0, initializedSize: 0,
    };
    if (nonResident === 0) {
      const vlen = u32(rec, pos + 0x10);
      const voff = u16(rec, pos + 0x14);
      if (voff + vlen > length) throw bad(pos + 0x10, 'a resident value inside the attribute', `${vlen} bytes at ${voff}`);
      a.value = rec.subarray(pos + voff, pos + voff + vlen);
      a.dataSize = a.initializedSize = a.allocatedSize = vlen;
    } else {
      if (length < 0x40) throw bad(pos + 4, 'a non-resident header of 64 bytes', length);
      a.startVcn = u64(rec, pos + 0x10);
      a.lastVcn = u64(rec, pos + 0x18);
      const rlOff = u16(rec, pos + 0x20);
      a.compressionUnit = u16(rec, pos + 0x22);
      a.allocatedSize = u64(rec, pos + 0x28);
      a.dataSize = u64(rec, pos + 0x30);
      a.initializedSize = u64(rec, pos + 0x38);
      if (rlOff < 0x40 || rlOff > length) throw bad(pos + 0x20, 'a runlist inside the attribute', rlOff);
      if (![a.startVcn, a.allocatedSize, a.dataSize, a.initializedSize].every(Number.isSafeInteger) || a.lastVcn + 1 < a.startVcn) {
        throw bad(pos + 0x10, 'sane VCNs and sizes', `vcn ${a.startVcn}..${a.lastVcn}, sizes ${a.allocatedSize}/${a.dataSize}/${a.initializedSize}`);
      }
      if (a.compressionUnit > 16) throw bad(pos + 0x22, 'a compression unit of at most 2^16 clusters', a.compressionUnit);
      a.runlist = rec.subarray(pos + rlOff, pos + length);
    }
    out.push(a);
    pos += length;
  }
  return out;
}
