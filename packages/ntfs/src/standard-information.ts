/** $STANDARD_INFORMATION: the times and DOS attributes Windows shows. */
import { CorruptImageError } from '@diskit/core';
import { u32, ntfsTime } from './bytes.js';

export const DOS_READONLY = 0x1;
export const DOS_SYSTEM = 0x4;
export const DOS_ENCRYPTED = 0x4000;

const DOS_FLAGS: [number, string][] = [
  [0x1, 'readonly'], [0x2, 'hidden'], [0x4, 'system'], [0x20, 'archive'], [0x80, 'normal'], [0x100, 'temporary'],
  [0x200, 'sparse'], [0x400, 'reparse-point'], [0x800, 'compressed'], [0x1000, 'offline'], [0x2000, 'not-content-indexed'], [0x4000, 'encrypted'],
];

export interface StandardInformation {
  birthtime?: Date;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
  dosFlags: number;
  attributes: string[];
}

export function parseStandardInformation(b: Uint8Array, offset: number): StandardInformation {
  if (b.length < 0x24) throw new CorruptImageError('NTFS $STANDARD_INFORMATION', offset, 'at least 36 bytes', String(b.length));
  const dosFlags = u32(b, 0x20);
  return {
    birthtime: ntfsTime(b, 0), mtime: ntfsTime(b, 8), ctime: ntfsTime(b, 0x10), atime: ntfsTime(b, 0x18),
    dosFlags, attributes: DOS_FLAGS.filter(([bit]) => dosFlags & bit).map(([, n]) => n),
  };
}
