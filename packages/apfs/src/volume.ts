/** An APFS volume as a diskit Volume: paths, directory listings, files, streams. */
import {
  CorruptImageError, MemoryDevice, PartialDirectoryError, UnsupportedFeatureError, UsageError, normalizePath,
  type BlockDevice, type EntryType, type FileEntry, type StreamEntry, type Volume,
} from '@diskit/core';
import { openDecmpfs, parseDecmpfs } from './decmpfs.js';
import { extentDevice } from './file-data.js';
import type { FsTree } from './fs-tree.js';
import { ROOT_DIR_INO, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, UF_COMPRESSED, nameHash, type DirRecord, type Inode, type Xattr } from './records.js';

const SYMLINK_EA = 'com.apple.fs.symlink';
const DECMPFS_EA = 'com.apple.decmpfs';
const RSRC_EA = 'com.apple.ResourceFork';
const MAX_PATH_DEPTH = 4096;
/** Directory listings kept for lookups, counted in entries. */
const DIR_CACHE_ENTRIES = 50_000;

const DT_TYPES: Record<number, EntryType> = { 4: 'directory', 8: 'file', 10: 'symlink' };
const NONE: Map<string, Xattr> = new Map();
/** BSD flags shown in `ls -l --json` (chflags names). */
const BSD_FLAGS: [number, string][] = [[0x2, 'uchg'], [0x4, 'uappnd'], [UF_COMPRESSED, 'compressed'], [0x8000, 'hidden'], [0x20000, 'schg']];

interface Resolved {
  path: string;
  name: string;
  inode: Inode;
}

export class ApfsVolume implements Volume {
  readonly type = 'apfs';
  private dirs = new Map<number, Map<string, DirRecord>>();
  private dirEntries = 0;

  constructor(
    private readonly dev: BlockDevice,
    private readonly fs: FsTree,
    private readonly facts: () => Promise<Record<string, unknown>>,
    readonly caseInsensitive: boolean,
    /** Why this volume cannot be read (encrypted, sealed…), if it cannot. */
    private readonly refusal?: string,
  ) {}

  async info(): Promise<Record<string, unknown>> {
    return this.facts();
  }

  /** The name as lookups compare it: normalised (NFD), case-folded on case-insensitive volumes. */
  private fold(name: string): string {
    if (!this.fs.hashedNames) return name;
    const n = name.normalize('NFD');
    return this.caseInsensitive ? n.toLowerCase() : n;
  }

  private async listing(dirId: number, path: string): Promise<Map<string, DirRecord>> {
    const hit = this.dirs.get(dirId);
    if (hit) {
      this.dirs.delete(dirId);
      this.dirs.set(dirId, hit);
      return hit;
    }
    const m = new Map<string, DirRecord>();
    for await (const batch of this.fs.dirRecords(dirId)) {
      for (const r of batch) {
        // A name that is not one path component would make paths that lead elsewhere.
        if (r.name === '' || r.name === '.' || r.name === '..' || r.name.includes('/') || r.name.includes('\0')) {
          throw new CorruptImageError(`directory ${path}`, 0, 'entry names that are single path components', JSON.stringify(r.name));
        }
        const key = this.fold(r.name);
        if (m.has(key)) throw new CorruptImageError(`directory ${path}`, 0, 'unique names', `${JSON.stringify(r.name)} twice`);
        m.set(key, r);
      }
    }
    this.dirs.set(dirId, m);
    this.dirEntries += m.size;
    while (this.dirEntries > DIR_CACHE_ENTRIES && this.dirs.size > 1) {
      const [k, v] = this.dirs.entries().next().value!;
      this.dirs.delete(k);
      this.dirEntries -= v.size;
    }
    return m;
  }

  /** Scans of whole directories made by lookups whose hashed search missed (for tests). */
  lookupScans = 0;

  /** One name in a directory: from a cached listing, else by its key hash, else by a scan. */
  private async lookup(dirId: number, name: string, dirPath: string): Promise<DirRecord | undefined> {
    const key = this.fold(name);
    const cached = this.dirs.get(dirId);
    if (cached) return cached.get(key);
    if (this.fs.hashedNames) {
      for (const r of await this.fs.dirRecordsWithHash(dirId, nameHash(key))) if (this.fold(r.name) === key) return r;
    }
    this.lookupScans++;
    return (await this.listing(dirId, dirPath)).get(key);
  }

  private async inodeOf(id: number, path: string): Promise<Inode> {
    const ino = await this.fs.inode(id);
    if (!ino) throw new CorruptImageError(`inode of ${path}`, 0, `an inode record for id ${id}`, 'none');
    return ino;
  }

  private async resolve(p: string): Promise<Resolved> {
    if (this.refusal) throw new UnsupportedFeatureError(this.refusal);
    const path = normalizePath(p);
    const parts = path.split('/').filter(Boolean);
    if (parts.length > MAX_PATH_DEPTH) throw new UsageError(`path ${path} is deeper than ${MAX_PATH_DEPTH}`);
    let inode = await this.inodeOf(ROOT_DIR_INO, '/');
    let cur = '';
    for (const part of parts) {
      if (entryType(inode) !== 'directory') throw new UsageError(`${cur || '/'} is not a directory`);
      const rec = await this.lookup(inode.id, part, cur || '/');
      cur += '/' + part;
      if (!rec) throw new UsageError(`${cur}: no such file or directory`);
      const parent = inode.id;
      inode = await this.inodeOf(rec.fileId, cur);
      checkParent(inode, parent, cur);
    }
    return { path, name: parts[parts.length - 1] ?? '', inode };
  }

  /** `known`: the inode's attributes among SYMLINK_EA and DECMPFS_EA, when a listing scan already has them. */
  private async entry(path: string, name: string, ino: Inode, known?: Map<string, Xattr>): Promise<FileEntry> {
    const type = entryType(ino);
    const e: FileEntry = {
      path, name, type, size: 0, mode: ino.mode, mtime: ino.mtime, uid: ino.uid, gid: ino.gid,
      inode: ino.id, nlink: type === 'directory' ? undefined : ino.nchildrenOrNlink, atime: ino.atime, ctime: ino.ctime, birthtime: ino.birthtime,
    };
    if (type === 'file') e.size = await this.fileSize(ino, path, known);
    else if (type === 'symlink') {
      e.target = await this.symlinkTarget(ino, path, known);
      e.size = new TextEncoder().encode(e.target).length;
    }
    const attrs = BSD_FLAGS.filter(([bit]) => ino.bsdFlags & bit).map(([, name]) => name);
    if (attrs.length) e.attributes = attrs;
    return e;
  }

  private async xattrOf(ino: Inode, name: string, known?: Map<string, Xattr>): Promise<Xattr | undefined> {
    return known ? known.get(name) : this.fs.xattr(ino.id, name);
  }

  private async fileSize(ino: Inode, path: string, known?: Map<string, Xattr>): Promise<number> {
    if (!(ino.bsdFlags & UF_COMPRESSED)) return ino.size;
    const x = await this.xattrOf(ino, DECMPFS_EA, known);
    if (!x) return ino.size;
    return parseDecmpfs(await this.xattrBytes(x, path), path).size;
  }

  private async symlinkTarget(ino: Inode, path: string, known?: Map<string, Xattr>): Promise<string> {
    const x = await this.xattrOf(ino, SYMLINK_EA, known);
    if (!x) throw new CorruptImageError(`symlink ${path}`, 0, `a ${SYMLINK_EA} attribute`, 'none');
    const b = await this.xattrBytes(x, path);
    const z = b.indexOf(0);
    return new TextDecoder().decode(z < 0 ? b : b.subarray(0, z));
  }

  /** An attribute's whole value (small ones only: targets, decmpfs headers). */
  private async xattrBytes(x: Xattr, path: string): Promise<Uint8Array> {
    if (x.data) return x.data;
    if (x.stream!.size > 1 << 20) throw new CorruptImageError(`attribute ${x.name} of ${path}`, 0, 'at most 1 MiB', String(x.stream!.size));
    const dev = await this.xattrDevice(x, path);
    const b = new Uint8Array(dev.size);
    await dev.read(b, 0);
    return b;
  }

  private async xattrDevice(x: Xattr, path: string): Promise<BlockDevice> {
    if (x.data) return new MemoryDevice(x.data, { readOnly: true });
    const s = x.stream!;
    return extentDevice(this.dev, this.fs.blockSize, await this.fs.extents(s.id, `attribute ${x.name} of ${path}`), s.size);
  }

  async stat(p: string): Promise<FileEntry> {
    const r = await this.resolve(p);
    return this.entry(r.path, r.name, r.inode);
  }

  /**
   * A directory's entries. A child that cannot be read (its inode missing or damaged, its record
   * contradicting it) is a problem of its own: the others are still returned, inside a
   * PartialDirectoryError, so a walk reports the damage and keeps what is readable.
   */
  async readdir(p: string): Promise<FileEntry[]> {
    const r = await this.resolve(p);
    if (entryType(r.inode) !== 'directory') throw new UsageError(`${r.path} is not a directory`);
    const out: FileEntry[] = [];
    const problems: CorruptImageError[] = [];
    const base = r.path === '/' ? '' : r.path;
    const recs = [...(await this.listing(r.inode.id, r.path)).values()];
    let inodes: Map<number, Inode>;
    let xattrs: Map<number, Map<string, Xattr>> | undefined;
    const failed = new Set<number>();
    try {
      ({ inodes, xattrs } = await this.fs.inodes(recs.map((x) => x.fileId), [SYMLINK_EA, DECMPFS_EA]));
    } catch (e) {
      if (!(e instanceof CorruptImageError)) throw e;
      // A damaged leaf among the children's records: look each child up alone to keep the rest.
      inodes = new Map();
      xattrs = undefined;
      for (const rec of recs) {
        const ino = await this.fs.inode(rec.fileId).catch((x) => (x instanceof CorruptImageError ? x : Promise.reject(x)));
        if (ino instanceof CorruptImageError) {
          problems.push(ino);
          failed.add(rec.fileId);
        } else if (ino) inodes.set(rec.fileId, ino);
      }
    }
    for (const rec of recs) {
      const path = `${base}/${rec.name}`;
      try {
        const ino = inodes.get(rec.fileId);
        if (!ino) {
          if (failed.has(rec.fileId)) continue; // reported by the lookup that failed
          throw new CorruptImageError(`inode of ${path}`, 0, `an inode record for id ${rec.fileId}`, 'none');
        }
        const e = await this.entry(path, rec.name, ino, xattrs ? (xattrs.get(ino.id) ?? NONE) : undefined);
        checkParent(ino, r.inode.id, path);
        const dt = DT_TYPES[rec.dtype];
        if (dt && dt !== e.type) throw new CorruptImageError(`directory record ${path}`, 0, `type ${e.type} as its inode says`, dt);
        out.push(e);
      } catch (e) {
        if (!(e instanceof CorruptImageError)) throw e;
        problems.push(e);
      }
    }
    if (problems.length) throw new PartialDirectoryError(out, problems);
    return out;
  }


  async openFile(p: string): Promise<BlockDevice> {
    const r = await this.resolve(p);
    const type = entryType(r.inode);
    if (type !== 'file') throw new UsageError(`${r.path} is not a regular file (${type})`);
    const ino = r.inode;
    if (ino.bsdFlags & UF_COMPRESSED) {
      const x = await this.fs.xattr(ino.id, DECMPFS_EA);
      if (x) {
        const fork = async () => {
          const f = await this.fs.xattr(ino.id, RSRC_EA);
          return f ? this.xattrDevice(f, r.path) : undefined;
        };
        return openDecmpfs(await this.xattrBytes(x, r.path), fork, r.path);
      }
    }
    return extentDevice(this.dev, this.fs.blockSize, await this.fs.extents(ino.privateId, r.path), ino.size);
  }

  private async visibleXattrs(ino: Inode): Promise<Xattr[]> {
    const hidden = new Set([SYMLINK_EA, DECMPFS_EA]);
    // A compressed file's resource fork is its data, not a stream of its own.
    if (ino.bsdFlags & UF_COMPRESSED) hidden.add(RSRC_EA);
    return (await this.fs.xattrs(ino.id)).filter((x) => !hidden.has(x.name));
  }

  async streams(p: string): Promise<StreamEntry[]> {
    const r = await this.resolve(p);
    return (await this.visibleXattrs(r.inode)).map((x) => ({
      name: x.name,
      size: x.data ? x.data.length : x.stream!.size,
      kind: x.name === RSRC_EA ? 'resource-fork' : 'xattr',
    }));
  }

  async openStream(p: string, name: string): Promise<BlockDevice> {
    const r = await this.resolve(p);
    const x = (await this.visibleXattrs(r.inode)).find((a) => a.name === name);
    if (!x) throw new UsageError(`${r.path} has no stream ${JSON.stringify(name)}`);
    return this.xattrDevice(x, r.path);
  }
}

/**
 * A directory has one parent, the one its inode names: a directory record elsewhere pointing at
 * it would be a second link — how a hostile image makes loops and endless trees — so it is corrupt.
 */
function checkParent(ino: Inode, parentId: number, path: string): void {
  if (entryType(ino) === 'directory' && ino.parentId !== parentId) {
    throw new CorruptImageError(`directory ${path}`, 0, `its inode's parent ${ino.parentId} as the directory holding it`, `directory ${parentId}`);
  }
}

export function entryType(ino: Inode): EntryType {
  switch (ino.mode & S_IFMT) {
    case S_IFDIR: return 'directory';
    case S_IFREG: return 'file';
    case S_IFLNK: return 'symlink';
    default: return 'other';
  }
}
