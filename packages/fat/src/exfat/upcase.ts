/** The exFAT up-case table (spec §7.2): checksum, compressed identity runs, and the name hash it feeds. */
import { CorruptImageError } from '@diskit/core';

/** Maps each UTF-16 code unit to its upper case. */
export type Upcase = Uint16Array;

/** The 32-bit table checksum (same rotate-and-add as the boot checksum, over every byte). */
export function tableChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) sum = ((((sum & 1) << 31) | (sum >>> 1)) + b[i]!) >>> 0;
  return sum;
}

/**
 * Decode a table whose bytes are `b` (checked against `checksum` first). 0xFFFF followed by a
 * count means that many characters map to themselves; characters past the table do too.
 */
export function parseUpcase(b: Uint8Array, checksum: number, offset: number): Upcase {
  const sum = tableChecksum(b);
  if (sum !== checksum) throw new CorruptImageError('exFAT up-case table', offset, `table checksum 0x${checksum.toString(16)}`, `0x${sum.toString(16)}`);
  const map = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) map[i] = i;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength & ~1);
  let ch = 0;
  for (let i = 0; i + 1 < b.length && ch < 65536; i += 2) {
    const u = v.getUint16(i, true);
    if (u === 0xffff && i + 3 < b.length) {
      ch += v.getUint16(i + 2, true);
      i += 2;
    } else map[ch++] = u;
  }
  return map;
}

/** The 16-bit hash of a name's up-cased UTF-16LE bytes, stored in its stream extension (§7.6.4). */
export function nameHash(name: string, upcase: Upcase): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) {
    const c = upcase[name.charCodeAt(i)]!;
    h = ((((h & 1) << 15) | (h >>> 1)) + (c & 0xff)) & 0xffff;
    h = ((((h & 1) << 15) | (h >>> 1)) + (c >>> 8)) & 0xffff;
  }
  return h;
}

/** Up-case a name for case-insensitive lookups. */
export function upcaseName(name: string, upcase: Upcase): string {
  let s = '';
  for (let i = 0; i < name.length; i++) s += String.fromCharCode(upcase[name.charCodeAt(i)]!);
  return s;
}
