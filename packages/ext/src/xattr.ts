/** Extended attributes kept in the inode body (after i_extra_isize): where inline data's tail lives. */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import type { Inode } from './inode.js';

export const XATTR_MAGIC = 0xea020000;
const PREFIXES: Record<number, string> = { 1: 'user.', 2: 'system.posix_acl_access', 3: 'system.posix_acl_default', 4: 'trusted.', 6: 'security.', 7: 'system.', 8: 'system.richacl' };

export interface Xattr {
  name: string;
  value: Uint8Array;
}

/** The in-inode attributes of `inode` (none when the area has no magic). */
export function inodeXattrs(inode: Inode): Xattr[] {
  const a = inode.xattrArea;
  if (a.length < 4) return [];
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  if (v.getUint32(0, true) !== XATTR_MAGIC) return [];
  const out: Xattr[] = [];
  const base = 4;
  const bad = (at: number, expected: string, found: string) => new CorruptImageError(`ext in-inode xattr (inode ${inode.ino})`, inode.xattrOffset + at, expected, found);
  for (let p = base; p + 4 <= a.length && v.getUint32(p, true) !== 0; ) {
    if (p + 16 > a.length) throw bad(p, 'a 16-byte entry inside the inode', `${a.length - p} bytes left`);
    const nameLen = a[p]!;
    const index = a[p + 1]!;
    const valueOffs = v.getUint16(p + 2, true);
    const valueInum = v.getUint32(p + 4, true);
    const valueSize = v.getUint32(p + 8, true);
    const entryLen = (16 + nameLen + 3) & ~3;
    if (p + entryLen > a.length) throw bad(p, 'the name inside the inode', `${nameLen} bytes`);
    const name = (PREFIXES[index] ?? `#${index}.`) + String.fromCharCode(...a.subarray(p + 16, p + 16 + nameLen));
    if (valueInum !== 0) throw new UnsupportedFeatureError(`ext: xattr ${name} of inode ${inode.ino} is kept in inode ${valueInum} (ea_inode) — not supported`);
    if (base + valueOffs + valueSize > a.length) throw bad(p, 'a value inside the inode', `${valueSize} bytes at ${valueOffs}`);
    out.push({ name, value: a.subarray(base + valueOffs, base + valueOffs + valueSize) });
    p += entryLen;
  }
  return out;
}
