/** A mounted NTFS volume: paths resolved through directory indexes, files read through their runs. */
import {
  CorruptImageError, PartialDirectoryError, UnsupportedFeatureError, UsageError, MemoryDevice, normalizePath,
  type BlockDevice, type FileEntry, type StreamEntry, type Structure, type Volume,
} from '@diskit/core';
import { AT, ATTR_COMPRESSED, ATTR_ENCRYPTED, ATTR_SPARSE } from './attribute.js';
import { readBootSector, type BootSector } from './boot-sector.js';
import { Mft } from './mft.js';
import { streamDevice, streamRuns, type NtfsFile, type Stream } from './ntfs-file.js';
import type { Run } from './runlist.js';
import { RECORD_IN_USE, RECORD_IS_DIRECTORY } from './mft-record.js';
import { NS_DOS, NS_WIN32 } from './file-name.js';
import { parseStandardInformation, DOS_ENCRYPTED, DOS_SYSTEM } from './standard-information.js';
import { parseReparsePoint, parseInterixSymlink, TAG_MOUNT_POINT, TAG_SYMLINK, TAG_WOF, type ReparsePoint } from './reparse.js';
import { parseIndexRoot, walkIndex } from './index-btree.js';
import { u32 } from './bytes.js';
import { ntfsStructures } from './structures.js';

export const ROOT = 5;
const VOLUME_RECORD = 3;
/** Records below this are the metafiles ($MFT … $Extend), hidden from listings of the root. */
const FIRST_USER_RECORD = 16;
const MAX_DIRS_CACHED = 16;
const MAX_ENTRIES = 4_000_000;
const WHOLE_INDEX = 4 << 20;

export type NameMode = 'win32' | 'dos';
export interface MountOptions {
  names?: NameMode;
}

interface Listing {
  entries: FileEntry[];
  byName: Map<string, number>;
  problems: CorruptImageError[];
}

/**
 * Windows looks names up without regard to case: when no name matches exactly, one that matches
 * ignoring case (and only one: POSIX names may differ only in case) is taken.
 */
function caseless(l: Listing, name: string): number | undefined {
  const want = name.toUpperCase();
  let found: number | undefined;
  for (let i = 0; i < l.entries.length; i++) {
    if (l.entries[i]!.name.toUpperCase() !== want) continue;
    if (found !== undefined) return undefined;
    found = i;
  }
  return found;
}

export class NtfsVolume implements Volume {
  readonly type = 'ntfs';
  private dirs = new Map<number, Listing>();

  private constructor(readonly dev: BlockDevice, readonly boot: BootSector, readonly mft: Mft, readonly names: NameMode) {}

  static async mount(dev: BlockDevice, opts: MountOptions = {}): Promise<NtfsVolume> {
    const boot = await readBootSector(dev);
    const mft = await Mft.open(dev, boot);
    const vol = new NtfsVolume(dev, boot, mft, opts.names ?? 'win32');
    const root = await mft.file(ROOT);
    if (!(root.record.flags & RECORD_IS_DIRECTORY)) throw new CorruptImageError('MFT record 5 (root directory)', root.record.offset, 'a directory', 'a file');
    return vol;
  }

  private get geo() {
    return this.mft.geometry;
  }

  /** The file of a path, with the entry its parent lists for it. */
  private async resolve(path: string): Promise<{ file: NtfsFile; entry: FileEntry }> {
    const p = normalizePath(path);
    let file = await this.mft.file(ROOT);
    let entry: FileEntry = await this.entryFor(file, '/', '');
    if (p === '/') return { file, entry };
    const parts = p.slice(1).split('/');
    let at = '';
    for (const part of parts) {
      if (entry.type !== 'directory') throw new UsageError(`${at || '/'}: not a directory`);
      const listing = await this.listing(file, at || '/');
      const n = listing.byName.get(part) ?? caseless(listing, part);
      at += '/' + part;
      if (n === undefined) throw new UsageError(`${at}: no such file or directory`);
      entry = listing.entries[n]!;
      file = await this.mft.file(entry.inode!);
    }
    return { file, entry };
  }

  async stat(path: string): Promise<FileEntry> {
    return (await this.resolve(path)).entry;
  }

  async readdir(path: string): Promise<FileEntry[]> {
    const { file, entry } = await this.resolve(path);
    if (entry.type !== 'directory') throw new UsageError(`${normalizePath(path)}: not a directory`);
    const l = await this.listing(file, normalizePath(path));
    if (l.problems.length) throw new PartialDirectoryError(l.entries, l.problems);
    return l.entries;
  }

  /** A directory's entries (cached for a few directories: path lookups walk the same ones). */
  private async listing(dir: NtfsFile, path: string): Promise<Listing> {
    const hit = this.dirs.get(dir.number);
    if (hit) {
      this.dirs.delete(dir.number);
      this.dirs.set(dir.number, hit);
      return hit;
    }
    const l: Listing = { entries: [], byName: new Map(), problems: [] };
    const keys: { record: number; seq: number; name: string; ns: number }[] = [];
    const hasDos = new Set<number>();
    try {
      for await (const e of walkIndex(await this.indexSource(dir))) {
        if (keys.length >= MAX_ENTRIES) throw new CorruptImageError('NTFS directory index', dir.record.offset, `at most ${MAX_ENTRIES} entries`, 'more');
        keys.push({ record: e.record, seq: e.seq, name: e.key.name, ns: e.key.namespace });
        if (e.key.namespace === NS_DOS) hasDos.add(e.record);
      }
    } catch (e) {
      if (!(e instanceof CorruptImageError)) throw e;
      l.problems.push(e);
    }
    const base = path === '/' ? '' : path;
    for (const k of keys) {
      if (dir.number === ROOT && k.record < FIRST_USER_RECORD) continue;
      // One name per link: the DOS 8.3 alias of a long name is hidden unless names=dos asks for it.
      if (this.names === 'win32' ? k.ns === NS_DOS : k.ns === NS_WIN32 && hasDos.has(k.record)) continue;
      if (k.name === '' || k.name.includes('/') || k.name.includes('\0') || k.name === '.' || k.name === '..') {
        l.problems.push(new CorruptImageError('NTFS index entry', dir.record.offset, 'a file name without / or NUL', JSON.stringify(k.name)));
        continue;
      }
      try {
        const f = await this.mft.file(k.record);
        if (!(f.record.flags & RECORD_IN_USE) || f.record.base !== 0) throw new CorruptImageError(`MFT record ${k.record}`, f.record.offset, 'a base record in use', 'free or an extension');
        if (k.seq && f.record.seq && k.seq !== f.record.seq) throw new CorruptImageError(`MFT record ${k.record}`, f.record.offset + 0x10, `sequence number ${k.seq} (as ${path} says)`, String(f.record.seq));
        if (l.byName.has(k.name)) continue;
        l.byName.set(k.name, l.entries.length);
        l.entries.push(await this.entryFor(f, `${base}/${k.name}`, k.name));
      } catch (e) {
        if (!(e instanceof CorruptImageError)) throw e;
        l.problems.push(e);
      }
    }
    if (this.dirs.size >= MAX_DIRS_CACHED) this.dirs.delete(this.dirs.keys().next().value!);
    this.dirs.set(dir.number, l);
    return l;
  }

  private async indexSource(dir: NtfsFile) {
    const rootStream = dir.get(AT.INDEX_ROOT, '$I30');
    if (!rootStream?.head.value) throw new CorruptImageError(`MFT record ${dir.number}`, dir.record.offset, 'a resident $INDEX_ROOT $I30', 'none');
    const root = parseIndexRoot(rootStream.head.value, rootStream.head.offset);
    const alloc = dir.get(AT.INDEX_ALLOCATION, '$I30');
    const bitmap = dir.get(AT.BITMAP, '$I30');
    const adev = alloc ? streamDevice(this.dev, alloc, this.geo, `directory ${dir.number} $INDEX_ALLOCATION`) : undefined;
    let bits: Uint8Array | undefined;
    if (bitmap) {
      const bdev = streamDevice(this.dev, bitmap, this.geo, `directory ${dir.number} $BITMAP`);
      if (bdev.size > 1 << 24) throw new CorruptImageError(`MFT record ${dir.number} $BITMAP`, bitmap.head.offset, 'at most 16 MiB', String(bdev.size));
      bits = new Uint8Array(bdev.size);
      await bdev.read(bits, 0);
    }
    const cs = this.boot.clusterSize;
    let whole: Uint8Array | undefined;
    return {
      root, rootOffset: rootStream.head.offset, bitmap: bits, allocationSize: adev?.size ?? 0,
      vcnSize: root.blockSize >= cs ? cs : 512,
      readBlock: adev && (async (pos: number, into: Uint8Array) => {
        // A directory's buffers are all read: in one read when they are few MiB (a big listing's
        // hundreds of 4 KiB reads otherwise), block by block beyond that.
        if (adev.size <= WHOLE_INDEX && !whole) await adev.read((whole = new Uint8Array(adev.size)), 0);
        if (whole) into.set(whole.subarray(pos, pos + into.length));
        else await adev.read(into, pos);
        return rootStream.head.offset; // Buffers are named by the directory and VCN in errors.
      }),
    };
  }

  private reparse(f: NtfsFile): ReparsePoint | undefined {
    const s = f.get(AT.REPARSE_POINT);
    return s?.head.value ? parseReparsePoint(s.head.value, s.head.offset) : undefined;
  }

  private async entryFor(f: NtfsFile, path: string, name: string): Promise<FileEntry> {
    const si = f.get(AT.STANDARD_INFORMATION);
    const info = si?.head.value ? parseStandardInformation(si.head.value, si.head.offset) : undefined;
    // Links: the names that are not DOS aliases (the namespace byte of each $FILE_NAME).
    const links = f.all(AT.FILE_NAME).filter((s) => s.head.value && s.head.value.length > 0x41 && s.head.value[0x41] !== NS_DOS).length;
    const isDir = !!(f.record.flags & RECORD_IS_DIRECTORY);
    const rp = this.reparse(f);
    const data = f.get(AT.DATA);
    const e: FileEntry = { path, name, type: isDir ? 'directory' : 'file', size: isDir ? 0 : data?.head.dataSize ?? 0, inode: f.number, nlink: Math.max(1, links) };
    if (rp && (rp.tag === TAG_SYMLINK || rp.tag === TAG_MOUNT_POINT)) {
      e.type = 'symlink';
      e.target = rp.target;
      e.size = 0;
    } else if (rp && rp.tag !== TAG_WOF && !isDir) {
      e.type = 'other';
    } else if (!rp && !isDir && data && info && info.dosFlags & DOS_SYSTEM && e.size >= 10 && e.size <= 2048) {
      const target = await this.interixTarget(f, data);
      if (target !== undefined) Object.assign(e, { type: 'symlink', target, size: 0 });
    }
    if (info) {
      Object.assign(e, { mtime: info.mtime, atime: info.atime, ctime: info.ctime, birthtime: info.birthtime });
      e.attributes = info.attributes;
    }
    if (rp) (e.attributes ??= []).push(`reparse:${rp.kind}`);
    return e;
  }

  private async interixTarget(f: NtfsFile, data: Stream): Promise<string | undefined> {
    if (data.head.flags & (ATTR_ENCRYPTED | ATTR_COMPRESSED)) return undefined;
    const d = streamDevice(this.dev, data, this.geo, `MFT record ${f.number} $DATA`);
    const b = new Uint8Array(d.size);
    await d.read(b, 0);
    return parseInterixSymlink(b);
  }

  /** The device of a $DATA stream, refusing what cannot be read honestly. */
  private dataDevice(f: NtfsFile, path: string, s: Stream | undefined, label: string): BlockDevice {
    if (!s) return new MemoryDevice(0, { readOnly: true });
    const si = f.get(AT.STANDARD_INFORMATION)?.head.value;
    if (s.head.flags & ATTR_ENCRYPTED || (si && si.length >= 0x24 && u32(si, 0x20) & DOS_ENCRYPTED)) {
      throw new UnsupportedFeatureError(`${path}: EFS-encrypted file (reading it needs the user's key)`);
    }
    if (s.head.flags & ATTR_COMPRESSED && !s.head.value && s.head.compressionUnit === 0) {
      throw new UnsupportedFeatureError(`${path}: compressed attribute without a compression unit`);
    }
    void ATTR_SPARSE;
    return streamDevice(this.dev, s, this.geo, label);
  }

  async openFile(path: string): Promise<BlockDevice> {
    const { file, entry } = await this.resolve(path);
    if (entry.type === 'directory') throw new UsageError(`${path}: is a directory`);
    const rp = this.reparse(file);
    if (rp?.tag === TAG_WOF) throw new UnsupportedFeatureError(`${path}: WOF-compressed file (codec ${rp.codec ?? 'unknown'}) is not supported`);
    if (entry.type === 'symlink') throw new UsageError(`${path}: is a symlink (to ${entry.target})`);
    return this.dataDevice(file, path, file.get(AT.DATA), `${path} $DATA`);
  }

  /** A path's MFT record: number and byte offset in the volume. */
  async recordOf(path: string): Promise<{ number: number; offset: number }> {
    const { file } = await this.resolve(path);
    return { number: file.number, offset: file.record.offset };
  }

  /** The runs of a file's unnamed $DATA (for dumps and tests), with whether an attribute list holds them. */
  async fileRuns(path: string): Promise<{ runs: Run[]; extents: number; attributeList: boolean }> {
    const { file } = await this.resolve(path);
    const s = file.get(AT.DATA);
    return { runs: s ? streamRuns(s, this.geo) ?? [] : [], extents: s?.extents.length ?? 0, attributeList: !!file.record.attributes.find((a) => a.type === AT.ATTRIBUTE_LIST) };
  }

  /** Boot sectors, the $MFT (its runs) and the system files' records, for `diskit dump`. */
  async structures(): Promise<Structure[]> {
    return ntfsStructures(this.boot, this.mft, this.mft.runList, this.dev.size);
  }

  async streams(path: string): Promise<StreamEntry[]> {
    const { file } = await this.resolve(path);
    return file.all(AT.DATA).filter((s) => s.name !== '').map((s) => ({ name: s.name, size: s.head.dataSize, kind: 'stream' as const }));
  }

  async openStream(path: string, name: string): Promise<BlockDevice> {
    const { file } = await this.resolve(path);
    const s = file.get(AT.DATA, name);
    if (!s || name === '') throw new UsageError(`${path}: no stream named '${name}'`);
    return this.dataDevice(file, path, s, `${path}:${name} $DATA`);
  }

  async info(): Promise<Record<string, unknown>> {
    const vol = await this.mft.file(VOLUME_RECORD);
    const nameV = vol.get(AT.VOLUME_NAME)?.head.value;
    const infoV = vol.get(AT.VOLUME_INFORMATION)?.head.value;
    let label = '';
    for (let i = 0; nameV && i + 1 < nameV.length; i += 2) label += String.fromCharCode(nameV[i]! | (nameV[i + 1]! << 8));
    const out: Record<string, unknown> = {
      label, serial: this.boot.serial, clusterSize: this.boot.clusterSize, sectorSize: this.boot.bytesPerSector,
      mftRecordSize: this.boot.recordSize, indexBlockSize: this.boot.indexBlockSize, size: this.boot.totalSectors * this.boot.bytesPerSector,
      mftRecords: this.mft.records, names: this.names,
    };
    if (infoV && infoV.length >= 12) {
      out.version = `${infoV[8]}.${infoV[9]}`;
      out.dirty = !!((infoV[10]! | (infoV[11]! << 8)) & 1);
    }
    if (this.mft.usedMirror) out.mftFromMirror = true;
    if (this.boot.offset) out.bootSectorFromBackup = this.boot.offset;
    return out;
  }
}
