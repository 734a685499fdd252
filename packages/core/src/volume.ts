import type { BlockDevice } from './device.js';
import type { CheckReport, Problem, Structure } from './driver.js';

export type EntryType = 'file' | 'directory' | 'symlink' | 'other';

/** One entry of a filesystem, as `diskit ls --json` prints it. */
export interface FileEntry {
  /** Absolute, `/`-separated path. */
  path: string;
  name: string;
  type: EntryType;
  size: number;
  /** POSIX mode bits including the file type (from Rock Ridge), when known. */
  mode?: number;
  mtime?: Date;
  /** Symlink target. */
  target?: string;
  uid?: number;
  gid?: number;
  /** Hard-link count, when the filesystem keeps one. */
  nlink?: number;
  /** A number unique to the file within its volume (inode, MFT record, CNID): equal values are hard links. */
  inode?: number;
  atime?: Date;
  /** Status-change time (ext, NTFS MFT-change, HFS+ attribute-modification). */
  ctime?: Date;
  /** Creation time, when the filesystem keeps one. */
  birthtime?: Date;
  /** Filesystem-specific flags for `ls -l --json` (DOS attributes, …). */
  attributes?: string[];
}

/** A named stream beside a file's main data: an NTFS ADS, an HFS+ resource fork, an extended attribute. */
export interface StreamEntry {
  name: string;
  size: number;
  kind: 'stream' | 'resource-fork' | 'xattr';
}

/** A mounted filesystem, read on demand from its device. */
export interface Volume {
  readonly type: string;
  stat(path: string): Promise<FileEntry>;
  readdir(path: string): Promise<FileEntry[]>;
  /** A file's contents as a read-only device (its extents mark sparse parts). */
  openFile(path: string): Promise<BlockDevice>;
  /** Volume-level facts for `diskit info`. */
  info(): Promise<Record<string, unknown>>;
  /**
   * Damage mount() read around (a descriptor whose checksum fails, replaced by its reserve copy):
   * printed as warnings by every command; `check` reports each as an error.
   */
  readonly warnings?: Problem[];
  /** Named streams of a file (`ls --streams`), for filesystems that have them. */
  streams?(path: string): Promise<StreamEntry[]>;
  /** One named stream's contents as a read-only device. */
  openStream?(path: string, name: string): Promise<BlockDevice>;
  /** Consistency checks of the filesystem's own structures, for `diskit check`. */
  check?(): Promise<CheckReport>;
  /** The filesystem's own structures for `diskit dump` (offsets within the filesystem's device). */
  structures?(): Promise<Structure[]>;
}

export interface FilesystemDriver {
  readonly name: string;
  /** 0 = not mine, 100 = certain. Must not throw. */
  probe(dev: BlockDevice): Promise<number>;
  mount(dev: BlockDevice, opts?: Record<string, string>): Promise<Volume>;
}

/** Normalise a user path to absolute `/a/b` form; refuses nothing, resolves `.` and `..` lexically. */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}
