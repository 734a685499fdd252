/**
 * Extended attributes: in the inode body (after i_extra_isize; where inline data's tail lives)
 * and in one external block (i_file_acl), whose CRC32C is checked under metadata_csum.
 */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { extCrc } from './checksum.js';
import type { Inode } from './inode.js';

export const XATTR_MAGIC = 0xea020000;
const PREFIXES: Record<number, string> = { 1: 'user.', 2: 'system.posix_acl_access', 3: 'system.posix_acl_default', 4: 'trusted.', 6: 'security.', 7: 'system.', 8: 'system.richacl' };

export interface Xattr {
  name: string;
  value: Uint8Array;
}

/**
 * Entries from `start` in `a` up to the 4-zero-byte end; values at `valueBase` + e_value_offs.
 * `what` and `offset` (of `a` in the device) name the structure in errors.
 */
function parseEntries(a: Uint8Array, start: number, valueBase: number, ino: number, what: string, offset: number): Xattr[] {
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const out: Xattr[] = [];
  const bad = (at: number, expected: string, found: string) => new CorruptImageError(`${what} (inode ${ino})`, offset + at, expected, found);
  for (let p = start; p + 4 <= a.length && v.getUint32(p, true) !== 0; ) {
    if (p + 16 > a.length) throw bad(p, 'a 16-byte entry inside the area', `${a.length - p} bytes left`);
    const nameLen = a[p]!;
    const index = a[p + 1]!;
    const valueOffs = v.getUint16(p + 2, true);
    const valueInum = v.getUint32(p + 4, true);
    const valueSize = v.getUint32(p + 8, true);
    const entryLen = (16 + nameLen + 3) & ~3;
    if (p + entryLen > a.length) throw bad(p, 'the name inside the area', `${nameLen} bytes`);
    const name = (PREFIXES[index] ?? `#${index}.`) + String.fromCharCode(...a.subarray(p + 16, p + 16 + nameLen));
    if (valueInum !== 0) throw new UnsupportedFeatureError(`ext: xattr ${name} of inode ${ino} is kept in inode ${valueInum} (ea_inode) — not supported`);
    if (valueBase + valueOffs + valueSize > a.length) throw bad(p, 'a value inside the area', `${valueSize} bytes at ${valueOffs}`);
    out.push({ name, value: a.subarray(valueBase + valueOffs, valueBase + valueOffs + valueSize) });
    p += entryLen;
  }
  return out;
}

/** The in-inode attributes of `inode` (none when the area has no magic). */
export function inodeXattrs(inode: Inode): Xattr[] {
  const a = inode.xattrArea;
  if (a.length < 4 || new DataView(a.buffer, a.byteOffset, 4).getUint32(0, true) !== XATTR_MAGIC) return [];
  return parseEntries(a, 4, 4, inode.ino, 'ext in-inode xattr', inode.xattrOffset);
}

/** The attributes in the external block `b` (block number `block`), its header and checksum checked. */
export function blockXattrs(b: Uint8Array, block: number, inode: Inode, csumSeed: number | undefined): Xattr[] {
  const offset = block * b.length;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0, true) !== XATTR_MAGIC) throw new CorruptImageError(`ext xattr block (inode ${inode.ino})`, offset, 'magic 0xea020000', `0x${v.getUint32(0, true).toString(16)}`);
  if (v.getUint32(8, true) !== 1) throw new CorruptImageError(`ext xattr block (inode ${inode.ino})`, offset + 8, '1 block', String(v.getUint32(8, true)));
  if (csumSeed !== undefined) {
    const le64 = new Uint8Array(8);
    new DataView(le64.buffer).setUint32(0, block % 2 ** 32, true);
    new DataView(le64.buffer).setUint32(4, Math.floor(block / 2 ** 32), true);
    const copy = b.slice();
    copy.fill(0, 0x10, 0x14);
    const want = extCrc(extCrc(csumSeed, le64), copy);
    const stored = v.getUint32(0x10, true);
    if (want !== stored) throw new CorruptImageError(`ext xattr block checksum (inode ${inode.ino})`, offset, `0x${want.toString(16)}`, `0x${stored.toString(16)}`);
  }
  return parseEntries(b, 32, 0, inode.ino, 'ext xattr block', offset);
}
