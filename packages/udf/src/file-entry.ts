/** File Entry and Extended File Entry (ECMA-167 4/14.9, 4/14.17): attributes and where the data is. */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { TAG, dv, readTag } from './tag.js';
import { timestamp } from './strings.js';

export const FILE_TYPE = { DIRECTORY: 4, FILE: 5, BLOCK: 6, CHAR: 7, FIFO: 9, SOCKET: 10, SYMLINK: 12, STREAM_DIR: 13, VAT20: 248 } as const;
/** Allocation descriptor forms, from the ICB tag's flags. */
export const AD = { SHORT: 0, LONG: 1, EXTENDED: 2, EMBEDDED: 3 } as const;

export interface FileEntry {
  fileType: number;
  size: number;
  uid: number;
  gid: number;
  /** ECMA-167 permissions: five bits each for other, group, owner (execute, write, read, chattr, delete). */
  permissions: number;
  links: number;
  atime?: Date;
  mtime?: Date;
  ctime?: Date;
  birthtime?: Date;
  uniqueId: number;
  adType: number;
  /** The allocation descriptors (or the embedded data when adType is EMBEDDED). */
  ads: Uint8Array;
}

export function parseFileEntry(b: Uint8Array, offset: number, location: number): FileEntry {
  const tag = readTag(b, 'UDF file entry', offset, [TAG.FE, TAG.EFE], location);
  const v = dv(b);
  const strategy = v.getUint16(16 + 4, true);
  if (strategy !== 4) throw new UnsupportedFeatureError(`UDF ICB strategy ${strategy} (file entry at offset ${offset}) is not supported`);
  const fileType = b[16 + 11]!;
  const flags = v.getUint16(16 + 18, true);
  const ext = tag.id === TAG.EFE;
  const [eaAt, adLenAt, headerEnd] = ext ? [208, 212, 216] : [168, 172, 176];
  const lEa = v.getUint32(eaAt, true);
  const lAd = v.getUint32(adLenAt, true);
  if (headerEnd + lEa + lAd > b.length) throw new CorruptImageError('UDF file entry', offset, `extended attributes and descriptors within ${b.length} bytes`, `${lEa} + ${lAd}`);
  const size = Number(v.getBigUint64(56, true));
  if (!Number.isSafeInteger(size)) throw new CorruptImageError('UDF file entry', offset + 56, 'a file size under 2^53', String(size));
  return {
    fileType,
    size,
    uid: v.getUint32(36, true),
    gid: v.getUint32(40, true),
    permissions: v.getUint32(44, true),
    links: v.getUint16(48, true),
    atime: timestamp(b.subarray(ext ? 80 : 72)),
    mtime: timestamp(b.subarray(ext ? 92 : 84)),
    birthtime: ext ? timestamp(b.subarray(104)) : undefined,
    ctime: timestamp(b.subarray(ext ? 116 : 96)),
    uniqueId: Number(v.getBigUint64(ext ? 200 : 160, true) & 0xffffffffffffn),
    adType: flags & 7,
    ads: b.subarray(headerEnd + lEa, headerEnd + lEa + lAd),
  };
}

/** ECMA-167 permission bits → POSIX mode bits (rwx for owner, group, other). */
export function posixMode(e: FileEntry): number {
  const p = e.permissions;
  const rwx = (shift: number) => (((p >> (shift + 2)) & 1) << 2) | (((p >> (shift + 1)) & 1) << 1) | ((p >> shift) & 1);
  const type = e.fileType === FILE_TYPE.DIRECTORY ? 0o040000 : e.fileType === FILE_TYPE.SYMLINK ? 0o120000 : e.fileType === FILE_TYPE.FIFO ? 0o010000 : e.fileType === FILE_TYPE.SOCKET ? 0o140000 : e.fileType === FILE_TYPE.BLOCK ? 0o060000 : e.fileType === FILE_TYPE.CHAR ? 0o020000 : 0o100000;
  return type | (rwx(10) << 6) | (rwx(5) << 3) | rwx(0);
}
