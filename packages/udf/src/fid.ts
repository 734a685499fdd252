/** File Identifier Descriptors (ECMA-167 4/14.4): a directory's entries, packed in its data. */
import { CorruptImageError } from '@diskit/core';
import { TAG, dv, readTag } from './tag.js';
import { cs0 } from './strings.js';

export interface Fid {
  name: string;
  directory: boolean;
  deleted: boolean;
  parent: boolean;
  hidden: boolean;
  icb: { block: number; partitionRef: number; length: number };
}

const MAX_ENTRIES = 1 << 20;

/** Every FID in a directory's bytes; `where` is the device offset of the data, for messages. */
export function parseFids(data: Uint8Array, where: number): Fid[] {
  const out: Fid[] = [];
  for (let at = 0; at + 38 <= data.length; ) {
    // The tag location is the FID's own block: checked by the caller's layout, not here (embedded data has none).
    readTag(data.subarray(at, Math.min(data.length, at + 38 + 0xffff + 0xff)), 'UDF file identifier descriptor', where + at, TAG.FID);
    const v = dv(data.subarray(at));
    const chars = data[at + 18]!;
    const lFi = data[at + 19]!;
    const lIu = v.getUint16(36, true);
    const len = (38 + lIu + lFi + 3) & ~3;
    if (at + 38 + lIu + lFi > data.length) throw new CorruptImageError('UDF file identifier descriptor', where + at, 'a name inside the directory', `${lIu}+${lFi} bytes`);
    if (out.length >= MAX_ENTRIES) throw new CorruptImageError('UDF directory', where, `at most ${MAX_ENTRIES} entries`);
    out.push({
      name: cs0(data.subarray(at + 38 + lIu, at + 38 + lIu + lFi)),
      hidden: (chars & 1) !== 0,
      directory: (chars & 2) !== 0,
      deleted: (chars & 4) !== 0,
      parent: (chars & 8) !== 0,
      icb: { length: v.getUint32(20, true) & 0x3fffffff, block: v.getUint32(24, true), partitionRef: v.getUint16(28, true) },
    });
    at += len;
  }
  return out;
}

/** Symlink contents (ECMA-167 4/14.16): path components → a POSIX path. */
export function symlinkTarget(b: Uint8Array, where: number): string {
  const parts: string[] = [];
  let absolute = false;
  for (let at = 0; at < b.length; ) {
    if (at + 4 > b.length) throw new CorruptImageError('UDF symlink', where + at, 'a whole path component');
    const type = b[at]!;
    const len = b[at + 1]!;
    if (at + 4 + len > b.length) throw new CorruptImageError('UDF symlink', where + at, 'a component inside the file', `${len} bytes`);
    if (type === 1 || type === 2) {
      absolute = true;
      parts.length = 0;
    } else if (type === 3) parts.push('..');
    else if (type === 4) parts.push('.');
    else if (type === 5) parts.push(cs0(b.subarray(at + 4, at + 4 + len)));
    at += 4 + len;
  }
  return (absolute ? '/' : '') + parts.join('/');
}
