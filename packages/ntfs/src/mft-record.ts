/** One FILE record of the MFT: header, fixups, attributes. */
import { CorruptImageError } from '@diskit/core';
import { u16, u32, mftRef } from './bytes.js';
import { applyFixups } from './fixup.js';
import { parseAttributes, type Attribute } from './attribute.js';

export const RECORD_IN_USE = 0x0001;
export const RECORD_IS_DIRECTORY = 0x0002;

export interface MftRecord {
  number: number;
  offset: number;
  seq: number;
  linkCount: number;
  flags: number;
  /** The base record for an extension record, else 0. */
  base: number;
  attributes: Attribute[];
}

/** Parse the record `buf` read from byte `offset` (fixups are undone in place unless `fixedUp`). */
export function parseMftRecord(buf: Uint8Array, number: number, offset: number, fixedUp = false): MftRecord {
  const structure = `MFT record ${number}`;
  const magic = String.fromCharCode(buf[0]!, buf[1]!, buf[2]!, buf[3]!);
  if (magic !== 'FILE') throw new CorruptImageError(structure, offset, "magic 'FILE'", JSON.stringify(magic));
  if (!fixedUp) applyFixups(buf, structure, offset);
  const first = u16(buf, 0x14);
  const used = u32(buf, 0x18);
  if (used > buf.length || first < 0x2a || first >= used || first & 7) throw new CorruptImageError(structure, offset + 0x14, `attributes inside the record's ${buf.length} bytes`, `first ${first}, used ${used}`);
  return {
    number, offset, seq: u16(buf, 0x10), linkCount: u16(buf, 0x12), flags: u16(buf, 0x16), base: mftRef(buf, 0x20).record,
    attributes: parseAttributes(buf, first, used, offset),
  };
}
