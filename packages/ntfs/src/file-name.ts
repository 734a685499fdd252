/** $FILE_NAME: a name of a file in a directory (also the key of directory index entries). */
import { CorruptImageError } from '@diskit/core';
import { u32, u64, mftRef, ntfsTime, utf16 } from './bytes.js';

export const NS_POSIX = 0;
export const NS_WIN32 = 1;
export const NS_DOS = 2;
export const NS_WIN32_AND_DOS = 3;

export const FN_IS_DIRECTORY = 0x10000000;

export interface FileName {
  parent: number;
  name: string;
  namespace: number;
  flags: number;
  dataSize: number;
  mtime?: Date;
  reparseTag: number;
}

export function parseFileName(b: Uint8Array, offset: number): FileName {
  if (b.length < 0x42 || b.length < 0x42 + b[0x40]! * 2) throw new CorruptImageError('NTFS $FILE_NAME', offset, 'a name inside the attribute', `${b.length} bytes`);
  const size = u64(b, 0x30);
  return {
    parent: mftRef(b, 0).record, name: utf16(b, 0x42, b[0x40]!), namespace: b[0x41]!, flags: u32(b, 0x38),
    dataSize: Number.isFinite(size) ? size : 0, mtime: ntfsTime(b, 0x10), reparseTag: u32(b, 0x3c),
  };
}
