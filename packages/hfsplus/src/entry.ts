/** How catalog records appear as diskit FileEntries: types, modes, dates, links. */
import type { EntryType, FileEntry } from '@diskit/core';
import { FOURCC, REC_FOLDER, type CatalogFile, type CatalogFolder } from './catalog.js';
import { hfsDate } from './volume-header.js';

/** BSD ownerFlags bit of a decmpfs-compressed file (UF_COMPRESSED). */
export const UF_COMPRESSED = 0x20;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export function isFileHardLink(f: CatalogFile): boolean {
  return f.fileType === FOURCC.hlnk && f.creator === FOURCC.hfsPlus;
}

export function isDirHardLink(f: CatalogFile): boolean {
  return f.fileType === FOURCC.fdrp && f.creator === FOURCC.MACS;
}

export function isSymlink(f: CatalogFile): boolean {
  return (f.fileType === FOURCC.slnk && f.creator === FOURCC.rhap) || (f.bsd.fileMode & S_IFMT) === S_IFLNK;
}

export function isCompressed(f: CatalogFile): boolean {
  return (f.bsd.ownerFlags & UF_COMPRESSED) !== 0;
}

/** A name as stored becomes a POSIX name the way macOS shows it: '/' in a Carbon name reads as ':'. */
export function posixName(stored: string): string {
  return stored.includes('/') ? stored.replaceAll('/', ':') : stored;
}

export function storedName(posix: string): string {
  return posix.includes(':') ? posix.replaceAll(':', '/') : posix;
}

function entryType(rec: CatalogFolder | CatalogFile): EntryType {
  if (rec.type === REC_FOLDER) return 'directory';
  if (isSymlink(rec)) return 'symlink';
  const fmt = rec.bsd.fileMode & S_IFMT;
  return fmt === 0 || fmt === S_IFREG ? 'file' : 'other';
}

/**
 * The entry of a record. `rec` is what the name leads to after hard links (the iNode file or the
 * linked folder); `size` is the listed size (the uncompressed size of a decmpfs file).
 */
export function toEntry(path: string, name: string, rec: CatalogFolder | CatalogFile, size = 0, extra: { target?: string; nlink?: number } = {}): FileEntry {
  const type = entryType(rec);
  const mode = rec.bsd.fileMode !== 0 ? rec.bsd.fileMode : type === 'directory' ? S_IFDIR | 0o755 : S_IFREG | 0o644;
  const e: FileEntry = {
    path, name, type, size: type === 'directory' ? 0 : size, mode,
    uid: rec.bsd.ownerID, gid: rec.bsd.groupID, inode: rec.id,
  };
  const set = (k: 'mtime' | 'atime' | 'ctime' | 'birthtime', secs: number) => {
    const d = hfsDate(secs);
    if (d) e[k] = d;
  };
  set('mtime', rec.contentModDate);
  set('atime', rec.accessDate);
  set('ctime', rec.attributeModDate);
  set('birthtime', rec.createDate);
  if (extra.target !== undefined) e.target = extra.target;
  e.nlink = extra.nlink ?? (type === 'directory' ? undefined : 1);
  if (e.nlink === undefined) delete e.nlink;
  if (rec.type !== REC_FOLDER && isCompressed(rec)) e.attributes = ['compressed'];
  return e;
}
