/** An ISO9660 volume (the Rock Ridge, Joliet or plain ISO9660 tree): paths, listings and files on demand. */
import {
  CorruptImageError, UnsupportedFeatureError, UsageError, PartialDirectoryError, MappedDevice, normalizePath,
  type BlockDevice, type FileEntry, type Volume, type FilesystemDriver,
} from '@diskit/core';
import { SECTOR, VD_START } from '../structs.js';
import { readBootCatalog, type BootCatalog } from '../eltorito.js';
import { ZisofsDevice } from '../zisofs.js';
import { hasCd001, readDescriptors, volumeFacts, type DescriptorInfo, type NameMode } from './descriptors.js';
import { rootNode, type Node } from './record.js';
import { DirectoryReader } from './directory.js';

export interface IsoVolumeInfo {
  names: NameMode;
  rockRidge: boolean;
  joliet: boolean;
  jolietLevel?: number;
  [k: string]: unknown;
}

export interface MountOptions {
  names?: NameMode;
}

const MAX_DEPTH = 1024;

export class IsoVolume implements Volume {
  readonly type = 'iso9660';
  private nameIndex = new WeakMap<Node[], Map<string, Node>>();
  private dirOwners = new Map<number, string>();

  private constructor(
    readonly dev: BlockDevice,
    readonly descriptors: DescriptorInfo[],
    readonly names: NameMode,
    readonly rockRidgeExtensions: string[],
    readonly hasRockRidge: boolean,
    private readonly reader: DirectoryReader,
    private readonly rootNode: Node,
  ) {}

  static async mount(dev: BlockDevice, opts: MountOptions = {}): Promise<IsoVolume> {
    const descs = await readDescriptors(dev);
    const pvdInfo = descs.find((d) => d.kind === 'primary');
    if (!pvdInfo?.raw) throw new CorruptImageError('volume descriptor set', VD_START * SECTOR, 'a primary volume descriptor', 'none');
    const pvd = pvdInfo.raw;
    if (pvd.logicalBlockSize !== SECTOR) {
      throw new UnsupportedFeatureError(`logical block size ${pvd.logicalBlockSize} (only 2048 is supported)`);
    }
    const jol = descs.find((d) => d.kind === 'joliet');
    // Probe Rock Ridge on the primary tree's root '.' record.
    const pvdRoot = rootNode(dev, pvd, pvdInfo.offset + 156).dir!;
    const rrInfo = await new DirectoryReader(dev, { useRR: false, rrSkip: 0, joliet: false }, pvdRoot.offset).probeRockRidge(pvdRoot);
    let names: NameMode;
    if (opts.names) {
      names = opts.names;
      if (names === 'rockridge' && !rrInfo.present) throw new UsageError('names=rockridge: this ISO has no Rock Ridge extensions');
      if (names === 'joliet' && !jol) throw new UsageError('names=joliet: this ISO has no Joliet descriptor');
    } else names = rrInfo.present ? 'rockridge' : jol ? 'joliet' : 'iso';
    const vd = names === 'joliet' ? jol!.raw! : pvd;
    const root = rootNode(dev, vd, (names === 'joliet' ? jol! : pvdInfo).offset + 156);
    const reader = new DirectoryReader(dev, { useRR: names === 'rockridge', rrSkip: rrInfo.skip, joliet: names === 'joliet' }, root.dir!.offset);
    if (names === 'rockridge') {
      // Root attributes come from its own '.' record.
      const self = await reader.readDotRecord(root.dir!.offset);
      if (self) root.rr = self;
    }
    return new IsoVolume(dev, descs, names, rrInfo.extensions, rrInfo.present, reader, root);
  }

  /**
   * Resolve a path to its node and the chain of directory offsets above it. A directory whose
   * extent is one of its ancestors' (a loop) resolves, so it is listed and stat-able, but cannot be
   * entered: `loop` is the error readdir throws for it.
   */
  private async resolve(path: string): Promise<{ node: Node; chain: number[]; loop?: CorruptImageError }> {
    const parts = normalizePath(path).split('/').filter(Boolean);
    let node = this.rootNode;
    const chain = [node.dir!.offset];
    let loop: CorruptImageError | undefined;
    for (let i = 0; i < parts.length; i++) {
      if (loop) throw loop;
      if (node.type !== 'directory') throw new UsageError(`${path}: not a directory`);
      if (chain.length > MAX_DEPTH) throw new CorruptImageError('directory tree', node.recordOffset, `depth below ${MAX_DEPTH}`, 'deeper');
      const kids = await this.reader.loadDir(node);
      let index = this.nameIndex.get(kids);
      if (!index) {
        index = new Map(kids.map((k) => [k.name, k]));
        this.nameIndex.set(kids, index);
      }
      const next = index.get(parts[i]!);
      if (!next) throw new UsageError(`${path}: no such file or directory`);
      node = next;
      if (!node.dir) continue;
      const ancestor = chain.indexOf(node.dir.offset);
      if (ancestor >= 0) {
        const above = '/' + parts.slice(0, ancestor).join('/');
        loop = new CorruptImageError('directory record', node.recordOffset, 'a directory extent that is not one of its ancestors', `extent at byte ${node.dir.offset}, the same as ${above}`);
      }
      chain.push(node.dir.offset);
    }
    return { node, chain, loop };
  }

  private entry(dirPath: string, n: Node): FileEntry {
    const path = dirPath === '/' ? `/${n.name}` : `${dirPath}/${n.name}`;
    const e: FileEntry = { path, name: n.name, type: n.type, size: n.type === 'directory' ? n.size : n.rr?.zf && n.rr.zf.algorithm === 'pz' ? n.rr.zf.size : n.size };
    const rr = n.rr;
    if (n.type === 'symlink') e.size = 0;
    if (rr?.mode !== undefined) e.mode = rr.mode;
    e.mtime = rr?.mtime ?? n.mtime;
    if (rr?.target !== undefined && n.type === 'symlink') {
      e.target = rr.target;
      e.size = new TextEncoder().encode(rr.target).length;
    }
    if (rr?.uid !== undefined) e.uid = rr.uid;
    if (rr?.gid !== undefined) e.gid = rr.gid;
    return e;
  }

  async stat(path: string): Promise<FileEntry> {
    const p = normalizePath(path);
    const { node } = await this.resolve(p);
    if (p === '/') return { ...this.entry('/', node), path: '/', name: '' };
    const dir = p.slice(0, p.lastIndexOf('/')) || '/';
    return this.entry(dir, node);
  }

  async readdir(path: string): Promise<FileEntry[]> {
    const p = normalizePath(path);
    const { node, loop } = await this.resolve(p);
    if (node.type !== 'directory') throw new UsageError(`${path}: not a directory`);
    if (loop) throw loop;
    // A directory reachable under two names (a hostile "hard link") is read under the first only,
    // or a crafted image could make a walk exponential.
    const owner = this.dirOwners.get(node.dir!.offset);
    if (owner !== undefined && owner !== p) {
      throw new CorruptImageError('directory record', node.recordOffset, 'each directory listed under one name', `the same extent (byte ${node.dir!.offset}) as ${owner}`);
    }
    this.dirOwners.set(node.dir!.offset, p);
    const kids = await this.reader.loadDir(node);
    const out: FileEntry[] = [];
    for (const k of kids) {
      const e = this.entry(p, k);
      if (k.dir && !this.dirOwners.has(k.dir.offset)) this.dirOwners.set(k.dir.offset, e.path);
      out.push(e);
    }
    const damaged = this.reader.damageOf(kids);
    if (damaged) throw new PartialDirectoryError(out, damaged);
    return out;
  }

  async openFile(path: string): Promise<BlockDevice> {
    const { node } = await this.resolve(path);
    if (node.type === 'directory') throw new UsageError(`${path}: is a directory`);
    if (node.type === 'symlink') return new MappedDevice(this.dev, [], 0);
    const raw = new MappedDevice(this.dev, node.runs, node.size);
    const zf = node.rr?.zf;
    if (zf) {
      if (zf.algorithm !== 'pz') throw new UnsupportedFeatureError(`${path}: compression '${zf.algorithm}' is not supported (only zisofs 'pz')`);
      return ZisofsDevice.open(raw, zf.size, path);
    }
    return raw;
  }

  /** Raw data runs of a file (for tests and dump). */
  async fileRuns(path: string): Promise<{ offset: number; length: number }[]> {
    const { node } = await this.resolve(path);
    return node.runs.map((r) => ({ offset: r.from!, length: r.length }));
  }

  async bootCatalog(): Promise<BootCatalog | undefined> {
    const b = this.descriptors.find((d) => d.bootCatalogLba !== undefined);
    if (!b) return undefined;
    return readBootCatalog(this.dev, b.bootCatalogLba!);
  }

  async info(): Promise<Record<string, unknown>> {
    return volumeFacts(this.descriptors, {
      names: this.names,
      rockRidge: this.hasRockRidge,
      rockRidgeExtensions: this.rockRidgeExtensions,
      bootCatalog: await this.bootCatalog().catch(() => undefined),
    });
  }
}

export const iso9660Filesystem: FilesystemDriver = {
  name: 'iso9660',
  async probe(dev) {
    try {
      return (await hasCd001(dev)) ? 90 : 0;
    } catch {
      return 0;
    }
  },
  async mount(dev, opts) {
    const names = opts?.names;
    if (names !== undefined && names !== 'iso' && names !== 'joliet' && names !== 'rockridge') {
      throw new UsageError(`names must be iso, joliet or rockridge (got '${names}')`);
    }
    for (const k of Object.keys(opts ?? {})) if (k !== 'names') throw new UsageError(`unknown iso9660 mount option '${k}'`);
    return IsoVolume.mount(dev, { names: names as NameMode | undefined });
  },
};
