/** A mounted UDF volume: the File Set Descriptor's root, directories of FIDs, files as devices. */
import { CorruptImageError, MappedDevice, MemoryDevice, normalizePath, UsageError, type BlockDevice, type FileEntry as Entry, type MappedRun, type Problem, type Volume } from '@diskit/core';
import { readVolumeStructure, type VolumeStructure } from './descriptors.js';
import { Partitions } from './partitions.js';
import { AD, FILE_TYPE, parseFileEntry, posixMode, type FileEntry } from './file-entry.js';
import { fileExtents } from './alloc.js';
import { parseFids, symlinkTarget } from './fid.js';
import { TAG, dv, readTag } from './tag.js';
import { dstring } from './strings.js';

interface Icb {
  block: number;
  partitionRef: number;
}

interface Node {
  entry: Entry;
  icb: Icb;
  fe: FileEntry;
}

/** Directory listings kept: enough for a walk's working set, never the whole tree. */
const DIR_CACHE = 256;
const MAX_DIRECTORY = 256 << 20;
const MAX_SYMLINK = 1 << 16;

export class UdfVolume implements Volume {
  readonly type = 'udf';
  private dirs = new Map<string, Node[]>();

  /** A damaged anchor or main descriptor sequence mount read around. */
  get warnings(): Problem[] {
    return this.vs.warnings;
  }

  private constructor(
    readonly dev: BlockDevice,
    readonly vs: VolumeStructure,
    readonly parts: Partitions,
    private readonly root: Node,
    private readonly fileSetName: string,
  ) {}

  static async mount(dev: BlockDevice): Promise<UdfVolume> {
    const vs = await readVolumeStructure(dev);
    const parts = await Partitions.open(dev, vs);
    const { bytes, offset } = await parts.readBlock(vs.lv.fsd.partitionRef, vs.lv.fsd.block, vs.lv.blockSize);
    readTag(bytes, 'UDF file set descriptor', offset, TAG.FSD, vs.lv.fsd.block);
    const v = dv(bytes);
    const rootIcb = { block: v.getUint32(404, true), partitionRef: v.getUint16(408, true) };
    const fe = await fileEntry(parts, rootIcb);
    if (fe.fileType !== FILE_TYPE.DIRECTORY) throw new CorruptImageError('UDF root directory', offset, 'a directory', `file type ${fe.fileType}`);
    return new UdfVolume(dev, vs, parts, { icb: rootIcb, fe, entry: toEntry('/', '', fe, rootIcb) }, dstring(bytes.subarray(304, 336)));
  }

  /** The file's runs on the device: embedded data lives in the entry itself. */
  private async runs(node: Node): Promise<{ runs: MappedRun[]; embedded?: Uint8Array }> {
    const { fe, icb } = node;
    if (fe.adType === AD.EMBEDDED) return { runs: [], embedded: fe.ads.subarray(0, Math.min(fe.size, fe.ads.length)) };
    const where = await this.parts.read(icb.partitionRef, icb.block, new Uint8Array(1));
    const extents = await fileExtents(fe.ads, fe.adType, icb.partitionRef, fe.size, (r, b, l) => this.parts.readBlock(r, b, l), where);
    const runs: MappedRun[] = [];
    for (const e of extents) {
      if (e.kind !== 'recorded') runs.push({ at: e.at, length: e.length });
      else for (const p of this.parts.devicePieces(e)) runs.push({ at: p.at, length: p.length, from: p.offset });
    }
    return { runs };
  }

  private async contents(node: Node, max: number): Promise<{ bytes: Uint8Array; where: number }> {
    if (node.fe.size > max) throw new CorruptImageError(`UDF ${node.entry.path}`, 0, `at most ${max} bytes`, String(node.fe.size));
    const { runs, embedded } = await this.runs(node);
    if (embedded) return { bytes: embedded, where: 0 };
    const bytes = new Uint8Array(node.fe.size);
    await new MappedDevice(this.dev, runs, node.fe.size).read(bytes, 0);
    return { bytes, where: runs[0]?.from ?? 0 };
  }

  private async list(node: Node): Promise<Node[]> {
    const cached = this.dirs.get(node.entry.path);
    if (cached) return cached;
    const { bytes, where } = await this.contents(node, MAX_DIRECTORY);
    const out: Node[] = [];
    const base = node.entry.path === '/' ? '' : node.entry.path;
    for (const fid of parseFids(bytes, where)) {
      if (fid.deleted || fid.parent) continue;
      const icb = { block: fid.icb.block, partitionRef: fid.icb.partitionRef };
      const fe = await fileEntry(this.parts, icb);
      if (fe.fileType === FILE_TYPE.STREAM_DIR) continue;
      out.push({ icb, fe, entry: toEntry(`${base}/${fid.name}`, fid.name, fe, icb) });
    }
    for (const n of out) if (n.entry.type === 'symlink') n.entry.target = symlinkTarget((await this.contents(n, MAX_SYMLINK)).bytes, 0);
    if (this.dirs.size >= DIR_CACHE) this.dirs.delete(this.dirs.keys().next().value!);
    this.dirs.set(node.entry.path, out);
    return out;
  }

  private async lookup(path: string): Promise<Node> {
    const p = normalizePath(path);
    let node = this.root;
    if (p === '/') return node;
    for (const part of p.slice(1).split('/')) {
      if (node.entry.type !== 'directory') throw new UsageError(`${node.entry.path} is not a directory`);
      const next = (await this.list(node)).find((n) => n.entry.name === part);
      if (!next) throw new UsageError(`${p}: no such file or directory`);
      node = next;
    }
    return node;
  }

  async stat(path: string): Promise<Entry> {
    return (await this.lookup(path)).entry;
  }

  async readdir(path: string): Promise<Entry[]> {
    const node = await this.lookup(path);
    if (node.entry.type !== 'directory') throw new UsageError(`${node.entry.path} is not a directory`);
    return (await this.list(node)).map((n) => n.entry);
  }

  async openFile(path: string): Promise<BlockDevice> {
    const node = await this.lookup(path);
    if (node.entry.type === 'directory') throw new UsageError(`${node.entry.path} is a directory`);
    const { runs, embedded } = await this.runs(node);
    if (embedded) return new MemoryDevice(new Uint8Array(embedded), { readOnly: true });
    return new MappedDevice(this.dev, runs, node.fe.size);
  }

  async info(): Promise<Record<string, unknown>> {
    const { lv, partitions, volumeId, volumeSetId, sectorSize } = this.vs;
    const rev = lv.revision;
    return {
      volumeId,
      logicalVolume: lv.name,
      volumeSetId,
      fileSet: this.fileSetName,
      udfRevision: rev ? `${(rev >> 8).toString(16)}.${(rev & 0xff).toString(16).padStart(2, '0')}` : undefined,
      blockSize: lv.blockSize,
      sectorSize,
      partitionMaps: lv.maps.map((m) => m.type),
      partitions: partitions.map((p) => ({ number: p.number, start: p.start, length: p.length, contents: p.contents })),
    };
  }
}

async function fileEntry(parts: Partitions, icb: Icb): Promise<FileEntry> {
  const { bytes, offset } = await parts.readBlock(icb.partitionRef, icb.block, parts.blockSize);
  return parseFileEntry(bytes, offset, icb.block);
}

function toEntry(path: string, name: string, fe: FileEntry, icb: Icb): Entry {
  const type = fe.fileType === FILE_TYPE.DIRECTORY ? 'directory' : fe.fileType === FILE_TYPE.FILE ? 'file' : fe.fileType === FILE_TYPE.SYMLINK ? 'symlink' : 'other';
  return {
    path,
    name,
    type,
    size: type === 'directory' ? 0 : fe.size,
    mode: posixMode(fe),
    uid: fe.uid === 0xffffffff ? undefined : fe.uid,
    gid: fe.gid === 0xffffffff ? undefined : fe.gid,
    nlink: fe.links,
    // The unique id is the same for every name of a hard-linked file; the ICB is the file itself.
    inode: icb.partitionRef * 2 ** 32 + icb.block,
    mtime: fe.mtime,
    atime: fe.atime,
    ctime: fe.ctime,
    birthtime: fe.birthtime,
  };
}
