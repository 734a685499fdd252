/** A mounted ext2/3/4 volume: inodes, directories and files read on demand through a bounded cache. */
import {
  CorruptImageError, PartialDirectoryError, UsageError, MemoryDevice, normalizePath,
  type BlockDevice, type FileEntry, type Volume, type EntryType, type FilesystemDriver, type Structure, type CheckReport, type StreamEntry,
} from '@diskit/core';
import { MetaCache } from './cache.js';
import { extCrcU32 } from './checksum.js';
import { locateSuperblock, probeExt } from './locate.js';
import { checkFeatures, hasCsum, INCOMPAT, SUPERBLOCK_OFFSET, type Superblock } from './superblock.js';
import { descriptorOffset, parseGroupDescriptor, primarySuperBlock, type GroupDescriptor } from './group-descriptor.js';
import {
  parseInode, checkInodeReadable, isDir, isReg, FLAG_EXTENTS, FLAG_INLINE_DATA, FLAG_INDEX, ROOT_INO, S_IFMT, type Inode,
} from './inode.js';
import { extentRuns } from './extent-tree.js';
import { blockMapRuns } from './block-map.js';
import { RunList, runsDevice, type MapContext, type Run } from './runs.js';
import { inlineData } from './inline-data.js';
import { inodeXattrs, blockXattrs, type Xattr } from './xattr.js';
import { parseDirents, hasDirentTail, checkLeafChecksum, dxCountOffset, checkDxChecksum, type Dirent } from './dirent.js';
import { checkVolume } from './check.js';
import { volumeInfo, volumeStructures } from './info.js';

/** Directories' parsed entries kept for path lookups: bounded by total names held. */
const MAX_CACHED_NAMES = 200_000;
/** Longest symlink target read (PATH_MAX is 4096). */
const MAX_LINK = 65536;
const MAX_PATH_DEPTH = 4096;

const typeOf = (mode: number): EntryType => {
  const t = mode & S_IFMT;
  return t === 0o040000 ? 'directory' : t === 0o100000 ? 'file' : t === 0o120000 ? 'symlink' : 'other';
};

export class ExtVolume implements Volume, MapContext {
  readonly type = 'ext';
  private readonly cache: MetaCache;
  private readonly groups = new Map<number, GroupDescriptor>();
  private readonly dirs = new Map<number, Map<string, number>>();
  private cachedNames = 0;
  /** The block holding the superblock copy in use (the descriptor table follows it). */
  readonly firstGroupBlock: number;

  private constructor(
    readonly dev: BlockDevice,
    readonly sb: Superblock,
    readonly primaryProblem?: string,
  ) {
    this.cache = new MetaCache(dev, Math.max(256 << 10, sb.blockSize));
    this.firstGroupBlock = sb.offset === SUPERBLOCK_OFFSET ? primarySuperBlock(sb) : sb.offset / sb.blockSize;
  }

  static async mount(dev: BlockDevice): Promise<ExtVolume> {
    const { sb, primaryProblem } = await locateSuperblock(dev);
    checkFeatures(sb);
    const vol = new ExtVolume(dev, sb, primaryProblem);
    const root = await vol.inode(ROOT_INO);
    if (!isDir(root)) throw new CorruptImageError('ext root inode', root.offset, 'a directory', `mode 0o${root.mode.toString(8)}`);
    return vol;
  }

  readBlock(block: number, what: string): Promise<Uint8Array> {
    if (block >= this.sb.blocksCount) throw new CorruptImageError(what, block * this.sb.blockSize, `a block below ${this.sb.blocksCount}`, String(block));
    return this.cache.read(block * this.sb.blockSize, this.sb.blockSize, what);
  }

  async group(g: number): Promise<GroupDescriptor> {
    const hit = this.groups.get(g);
    if (hit) return hit;
    const off = descriptorOffset(this.sb, g, this.firstGroupBlock);
    const raw = await this.cache.read(off, this.sb.descSize, `ext group descriptor ${g}`);
    const d = parseGroupDescriptor(this.sb, g, raw, off);
    if (this.groups.size >= 65536) this.groups.clear();
    this.groups.set(g, d);
    return d;
  }

  private inodeOffset(ino: number, d: GroupDescriptor): number {
    return d.inodeTable * this.sb.blockSize + ((ino - 1) % this.sb.inodesPerGroup) * this.sb.inodeSize;
  }

  /** The inode when its descriptor and table bytes are cached, without an await (the hot path of listings). */
  inodeNow(ino: number): Inode | undefined {
    if (ino < 1 || ino > this.sb.inodesCount) return undefined;
    const d = this.groups.get(Math.floor((ino - 1) / this.sb.inodesPerGroup));
    if (!d) return undefined;
    const off = this.inodeOffset(ino, d);
    const raw = this.cache.peek(off, this.sb.inodeSize);
    return raw && parseInode(this.sb, ino, raw, off);
  }

  /** Bring the inode-table chunks of these entries into the cache, reading several at once. */
  private async prefetchInodes(ds: Dirent[]): Promise<void> {
    const offsets: number[] = [];
    for (const { ino } of ds) {
      if (ino < 1 || ino > this.sb.inodesCount) continue;
      const g = Math.floor((ino - 1) / this.sb.inodesPerGroup);
      const d = this.groups.get(g) ?? (await this.group(g).catch(() => undefined));
      if (d) offsets.push(this.inodeOffset(ino, d));
    }
    await this.cache.prefetch(offsets);
  }

  async inode(ino: number): Promise<Inode> {
    const { sb } = this;
    if (ino < 1 || ino > sb.inodesCount) throw new CorruptImageError('ext inode number', 0, `1 … ${sb.inodesCount}`, String(ino));
    const d = await this.group(Math.floor((ino - 1) / sb.inodesPerGroup));
    const off = this.inodeOffset(ino, d);
    return parseInode(sb, ino, await this.cache.read(off, sb.inodeSize, `ext inode ${ino}`), off);
  }

  /** The block runs of an inode's data (extents or block map). */
  async runs(inode: Inode): Promise<Run[]> {
    if (inode.flags & FLAG_INLINE_DATA) return [];
    const list: RunList = inode.flags & FLAG_EXTENTS ? await extentRuns(this, inode) : await blockMapRuns(this, inode);
    return list.runs;
  }

  /** The device of an inode's contents (inline data in memory; else its runs). */
  async contents(inode: Inode): Promise<BlockDevice> {
    checkInodeReadable(inode);
    if (inode.flags & FLAG_INLINE_DATA) return new MemoryDevice(inlineData(inode).slice(), { readOnly: true });
    // Logical block numbers are 32-bit: nothing larger is addressable.
    if (inode.size > 2 ** 32 * this.sb.blockSize) throw new CorruptImageError(`ext inode ${inode.ino} size`, inode.offset + 4, `at most 2^32 blocks`, String(inode.size));
    return runsDevice(this.dev, inode.size, await this.runs(inode), this.sb.blockSize);
  }

  /** The entries of a directory inode, every block's checksum checked where metadata_csum is on. */
  /**
   * With `damaged`, a block whose checksum or records are bad is left out and its error pushed
   * there (the caller reports a partial directory); without it the first such error is thrown.
   */
  async dirents(dir: Inode, damaged?: CorruptImageError[]): Promise<Dirent[]> {
    checkInodeReadable(dir);
    const filetype = (this.sb.incompat & INCOMPAT.filetype) !== 0;
    const what = `ext directory (inode ${dir.ino})`;
    const out: Dirent[] = [];
    if (dir.flags & FLAG_INLINE_DATA) {
      const all = inlineData(dir, false);
      parseDirents(dir.block.subarray(4), dir.offset + 0x2c, filetype, this.sb.inodesCount, out, what);
      const extra = inodeXattrs(dir).find((x) => x.name === 'system.data')?.value;
      if (extra && extra.length) parseDirents(all.subarray(60), dir.xattrOffset, filetype, this.sb.inodesCount, out, what);
      return out;
    }
    const bs = this.sb.blockSize;
    const csum = hasCsum(this.sb);
    const seed = csum ? extCrcU32(extCrcU32(this.sb.csumSeed, dir.ino), dir.generation) : 0;
    const blocks = Math.ceil(dir.size / bs);
    for (const r of await this.runs(dir)) {
      if (r.kind === 'zero') continue;
      // Read each run in one go (up to 1 MiB at a time), not block by block.
      for (let i = 0; i < r.count && r.logical + i < blocks; ) {
        const n = Math.min(r.count - i, blocks - r.logical - i, Math.max(1, (1 << 20) / bs));
        const off = (r.physical + i) * bs;
        if (off + n * bs > this.dev.size) throw new CorruptImageError(`${what} block`, off, `${n * bs} bytes inside the device`, `device of ${this.dev.size} bytes`);
        const buf = new Uint8Array(n * bs);
        await this.dev.read(buf, off);
        for (let k = 0; k < n; k++) {
          const b = buf.subarray(k * bs, (k + 1) * bs);
          const at = off + k * bs;
          const kept = out.length;
          try {
            if (csum) {
              const dx = dir.flags & FLAG_INDEX ? dxCountOffset(b, r.logical + i + k) : undefined;
              if (hasDirentTail(b)) checkLeafChecksum(b, seed, at, what);
              else if (dx !== undefined) {
                checkDxChecksum(b, dx, seed, at, what);
                continue;
              } else throw new CorruptImageError(`${what} block`, at, 'a checksum tail (metadata_csum)', 'none');
            }
            parseDirents(b, at, filetype, this.sb.inodesCount, out, what);
          } catch (e) {
            if (!damaged || !(e instanceof CorruptImageError)) throw e;
            out.length = kept; // nothing from a damaged block
            damaged.push(e);
          }
        }
        i += n;
      }
    }
    return out;
  }

  private async lookupTable(dir: Inode): Promise<Map<string, number>> {
    const hit = this.dirs.get(dir.ino);
    if (hit) return hit;
    const m = new Map<string, number>();
    // Names in sound blocks stay reachable when another block is damaged (readdir reports that one).
    for (const d of await this.dirents(dir, [])) m.set(d.name, d.ino);
    if (this.cachedNames + m.size > MAX_CACHED_NAMES) {
      this.dirs.clear();
      this.cachedNames = 0;
    }
    this.dirs.set(dir.ino, m);
    this.cachedNames += m.size;
    return m;
  }

  /**
   * Directories resolved so far: path → inode and parent path. A walk resolves each directory
   * from its parent in one step, so a tree 4,096 deep costs 4,096 lookups, not 8 million.
   */
  private readonly dirPaths = new Map<string, { ino: number; parent: string }>();

  /** The inode at an absolute path (symlinks are not followed). */
  async resolve(path: string): Promise<Inode> {
    const p = normalizePath(path);
    if (p === '/') return this.inode(ROOT_INO);
    const hit = this.dirPaths.get(p);
    if (hit) return this.inode(hit.ino);
    const cut = p.lastIndexOf('/');
    const parentPath = cut === 0 ? '/' : p.slice(0, cut);
    if (p.split('/').length > MAX_PATH_DEPTH) throw new UsageError(`path deeper than ${MAX_PATH_DEPTH} components`);
    const parent = await this.resolve(parentPath);
    if (!isDir(parent)) throw new UsageError(`not a directory: ${parentPath}`);
    const ino = (await this.lookupTable(parent)).get(p.slice(cut + 1));
    if (ino === undefined) throw new UsageError(`no such file or directory: ${p}`);
    const inode = await this.inode(ino);
    if (isDir(inode)) {
      if (this.dirPaths.size >= 65536) this.dirPaths.clear();
      this.dirPaths.set(p, { ino, parent: parentPath });
    }
    return inode;
  }

  /** Inode numbers of a resolved directory's ancestors (and its own), as far as the path cache knows them (≤ 256 up). */
  private ancestorsOf(p: string, self: number): Set<number> {
    const out = new Set<number>([self, ROOT_INO]);
    for (let cur = this.dirPaths.get(p), n = 0; cur && n < 256; cur = this.dirPaths.get(cur.parent), n++) out.add(cur.ino);
    return out;
  }

  async symlinkTarget(inode: Inode): Promise<string> {
    if (inode.size > MAX_LINK) throw new CorruptImageError(`ext symlink (inode ${inode.ino})`, inode.offset, `a target of at most ${MAX_LINK} bytes`, String(inode.size));
    const eaBlocks = inode.fileAcl ? this.sb.clusterSize / 512 : 0;
    let bytes: Uint8Array;
    if (!(inode.flags & FLAG_INLINE_DATA) && inode.blocks - eaBlocks === 0) {
      if (inode.size > 60) throw new CorruptImageError(`ext fast symlink (inode ${inode.ino})`, inode.offset, 'a target of at most 60 bytes', String(inode.size));
      bytes = inode.block.subarray(0, inode.size);
    } else {
      const dev = await this.contents(inode);
      bytes = new Uint8Array(inode.size);
      await dev.read(bytes, 0);
    }
    return new TextDecoder().decode(bytes);
  }

  entry(path: string, inode: Inode): FileEntry | Promise<FileEntry> {
    const type = typeOf(inode.mode);
    const name = path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
    const e: FileEntry = {
      path, name, type, size: type === 'symlink' || type === 'file' || type === 'directory' ? inode.size : 0,
      mode: inode.mode, mtime: inode.mtime, atime: inode.atime, ctime: inode.ctime,
      uid: inode.uid, gid: inode.gid, nlink: inode.links, inode: inode.ino,
    };
    if (inode.crtime) e.birthtime = inode.crtime;
    if (type === 'symlink') return this.symlinkTarget(inode).then((t) => ((e.target = t), e));
    return e;
  }

  async stat(path: string): Promise<FileEntry> {
    const p = normalizePath(path);
    return this.entry(p, await this.resolve(p));
  }

  async readdir(path: string): Promise<FileEntry[]> {
    const p = normalizePath(path);
    const dir = await this.resolve(p);
    if (!isDir(dir)) throw new UsageError(`not a directory: ${p}`);
    // Loops further up than the cache reaches end at the walker's depth limit.
    const ancestors = this.ancestorsOf(p, dir.ino);
    const base = p === '/' ? '' : p;
    const out: FileEntry[] = [];
    // Damaged blocks and entries are left out and reported together: the rest is still listed.
    const damaged: CorruptImageError[] = [];
    const ds = await this.dirents(dir, damaged);
    await this.prefetchInodes(ds);
    for (const d of ds) {
      try {
        if (d.name.includes('/') || d.name.includes('\0')) {
          throw new CorruptImageError(`ext directory (inode ${dir.ino}) entry name`, dir.offset, 'a name without / or NUL', JSON.stringify(d.name));
        }
        const inode = this.inodeNow(d.ino) ?? (await this.inode(d.ino));
        // A directory naming itself or an ancestor would make every walk endless.
        if (ancestors.has(d.ino) && isDir(inode)) {
          throw new CorruptImageError(`ext directory (inode ${dir.ino}) entry`, dir.offset, 'no entry naming the directory itself or an ancestor (a loop)', `${JSON.stringify(d.name)} → inode ${d.ino}`);
        }
        const e = this.entry(`${base}/${d.name}`, inode);
        out.push(e instanceof Promise ? await e : e);
      } catch (e) {
        if (!(e instanceof CorruptImageError)) throw e;
        damaged.push(e);
      }
    }
    if (damaged.length) throw new PartialDirectoryError(out, damaged);
    return out;
  }

  /** Every extended attribute of an inode: in the inode body, then in its attribute block. */
  async xattrs(inode: Inode): Promise<Xattr[]> {
    const out = inodeXattrs(inode);
    if (inode.fileAcl) {
      const b = (await this.readBlock(inode.fileAcl, `ext xattr block (inode ${inode.ino})`)).slice();
      out.push(...blockXattrs(b, inode.fileAcl, inode, hasCsum(this.sb) ? this.sb.csumSeed : undefined));
    }
    return out;
  }

  /** Extended attributes as named streams (inline data's system.data is the file itself, so left out). */
  async streams(path: string): Promise<StreamEntry[]> {
    const all = await this.xattrs(await this.resolve(path));
    return all.filter((x) => x.name !== 'system.data').map((x) => ({ name: x.name, size: x.value.length, kind: 'xattr' as const }));
  }

  async openStream(path: string, name: string): Promise<BlockDevice> {
    const x = (await this.xattrs(await this.resolve(path))).find((a) => a.name === name && name !== 'system.data');
    if (!x) throw new UsageError(`no extended attribute ${JSON.stringify(name)} on ${normalizePath(path)}`);
    return new MemoryDevice(x.value.slice(), { readOnly: true });
  }

  async openFile(path: string): Promise<BlockDevice> {
    const inode = await this.resolve(path);
    if (!isReg(inode)) throw new UsageError(`not a regular file: ${normalizePath(path)}`);
    return this.contents(inode);
  }

  /** Where the metadata sits (superblock, descriptors, inode tables, root directory), for dump and the fuzzer. */
  structures(maxGroups = 64): Promise<Structure[]> {
    return volumeStructures(this, maxGroups);
  }

  /** Every descriptor, directory and inode reachable from the root, checked (see check.ts). */
  async check(): Promise<CheckReport> {
    return { problems: await checkVolume(this) };
  }

  info(): Promise<Record<string, unknown>> {
    return volumeInfo(this);
  }
}

export const extFilesystem: FilesystemDriver = {
  name: 'ext',
  probe: (dev) => probeExt(dev).catch(() => 0),
  mount: (dev) => ExtVolume.mount(dev),
};
