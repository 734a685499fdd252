/** $ATTRIBUTE_LIST: where each attribute of a file lives when they span several MFT records. */
import { CorruptImageError } from '@diskit/core';
import { u16, u32, u64, mftRef, utf16 } from './bytes.js';

export interface AttributeListEntry {
  type: number;
  name: string;
  startVcn: number;
  record: number;
  id: number;
}

export const MAX_ATTRIBUTE_LIST = 1 << 20;

export function parseAttributeList(b: Uint8Array, offset: number): AttributeListEntry[] {
  const out: AttributeListEntry[] = [];
  for (let pos = 0; pos + 0x1a <= b.length; ) {
    const type = u32(b, pos);
    const len = u16(b, pos + 4);
    const nameLength = b[pos + 6]!;
    const nameOffset = b[pos + 7]!;
    if (len < 0x1a || pos + len > b.length || (nameLength && nameOffset + nameLength * 2 > len)) {
      throw new CorruptImageError('NTFS attribute list entry', offset + pos, `a length 26..${b.length - pos} holding its name`, String(len));
    }
    const startVcn = u64(b, pos + 8);
    if (!Number.isSafeInteger(startVcn)) throw new CorruptImageError('NTFS attribute list entry', offset + pos + 8, 'a starting VCN below 2^53', 'more');
    out.push({ type, name: nameLength ? utf16(b, pos + nameOffset, nameLength) : '', startVcn, record: mftRef(b, pos + 0x10).record, id: u16(b, pos + 0x18) });
    pos += len;
  }
  return out;
}
