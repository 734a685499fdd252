/** inline_data: a small file or directory kept in i_block (60 bytes) plus the "system.data" xattr. */
import { CorruptImageError } from '@diskit/core';
import { inodeXattrs } from './xattr.js';
import type { Inode } from './inode.js';

/** The inline bytes of `inode`: i_block then the system.data value, `inode.size` bytes for files. */
export function inlineData(inode: Inode, exact = true): Uint8Array {
  const extra = inodeXattrs(inode).find((x) => x.name === 'system.data')?.value ?? new Uint8Array(0);
  const all = new Uint8Array(60 + extra.length);
  all.set(inode.block, 0);
  all.set(extra, 60);
  if (!exact) return all;
  if (inode.size > all.length) throw new CorruptImageError(`ext inline data (inode ${inode.ino})`, inode.offset + 0x28, `a size of at most ${all.length} bytes`, String(inode.size));
  return all.subarray(0, inode.size);
}
