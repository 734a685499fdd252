/** Reading an ISO9660 volume: directories, Rock Ridge / Joliet names, files on demand. */
import {
  CorruptImageError, UnsupportedFeatureError, UsageError, PartialDirectoryError, MappedDevice, normalizePath,
  type BlockDevice, type FileEntry, type Volume, type EntryType, type FilesystemDriver, type MappedRun,
} from '@diskit/core';
import {
  SECTOR, VD_START, parseDirRecord, parseDirRecordFast, decodeShortDate, aString, ucs2String,
  FLAG_DIRECTORY, FLAG_ASSOCIATED, FLAG_MULTI_EXTENT, FLAG_HIDDEN,
  type RawVolumeDescriptor, type RawDirRecord,
} from './structs.js';
import { RockRidgeAccumulator, decodeName, type RockRidge } from './susp.js';
import { readBootCatalog, type BootCatalog } from './eltorito.js';
import { ZisofsDevice } from './zisofs.js';
import { readDescriptors, volumeFacts, type DescriptorInfo } from './descriptors.js';

export type NameMode = 'iso' | 'joliet' | 'rockridge';



interface Node {
  name: string;
  type: EntryType;
  size: number;
  runs: MappedRun[];
  /** Directory extent (byte offset, size). */
  dir?: { offset: number; size: number };
  mtime?: Date;
  rr?: RockRidge;
  hidden?: boolean;
  recordOffset: number;
}

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

const MAX_DIR_BYTES = 256 << 20;
const MAX_CE_AREAS = 64;
const MAX_DEPTH = 1024;

function isBadName(n: string): boolean {
  return n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0');
}

export class IsoVolume implements Volume {
  readonly type = 'iso9660';
  private cache = new Map<number, Node[]>();
  /** Records of a directory that could not be read (keyed by the listing): readdir reports them. */
  private damage = new WeakMap<Node[], CorruptImageError[]>();
  /** Damage found in a directory's own '.' record (its Rock Ridge attributes), by extent offset. */
  private dotDamage = new Map<number, CorruptImageError>();
  private nameIndex = new WeakMap<Node[], Map<string, Node>>();
  private dirOwners = new Map<number, string>();
  private cacheBytes = 0;
  private cacheSizes = new Map<number, number>();
  private rootNode!: Node;
  private rrSkip = 0;
  private useRR = false;
  private joliet = false;
  private blockSize = SECTOR;

  private constructor(
    readonly dev: BlockDevice,
    readonly descriptors: DescriptorInfo[],
    readonly names: NameMode,
    private readonly vd: RawVolumeDescriptor,
    readonly rockRidgeExtensions: string[],
    readonly hasRockRidge: boolean,
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
    const probe = new IsoVolume(dev, descs, 'iso', pvd, [], false);
    probe.rootNode = probe.nodeFromRoot(pvd, pvdInfo.offset + 156);
    const rrInfo = await probe.probeRockRidge();
    let names: NameMode;
    if (opts.names) {
      names = opts.names;
      if (names === 'rockridge' && !rrInfo.present) throw new UsageError('names=rockridge: this ISO has no Rock Ridge extensions');
      if (names === 'joliet' && !jol) throw new UsageError('names=joliet: this ISO has no Joliet descriptor');
    } else names = rrInfo.present ? 'rockridge' : jol ? 'joliet' : 'iso';
    const vd = names === 'joliet' ? jol!.raw! : pvd;
    const vol = new IsoVolume(dev, descs, names, vd, rrInfo.extensions, rrInfo.present);
    vol.useRR = names === 'rockridge';
    vol.rrSkip = rrInfo.skip;
    vol.joliet = names === 'joliet';
    vol.rootNode = vol.nodeFromRoot(vd, (names === 'joliet' ? jol! : pvdInfo).offset + 156);
    if (vol.useRR) {
      // Root attributes come from its own '.' record.
      const self = await vol.readDotRecord(vol.rootNode.dir!.offset);
      if (self) vol.rootNode.rr = self;
    }
    return vol;
  }

  private nodeFromRoot(vd: RawVolumeDescriptor, recOffset: number): Node {
    const r = parseDirRecord(vd.rootRecord);
    if (r.length < 34 || !(r.flags & FLAG_DIRECTORY)) {
      throw new CorruptImageError('root directory record', recOffset, 'a directory record of 34 bytes', `length ${r.length}, flags ${r.flags}`);
    }
    const offset = (r.extent + r.extAttrLength) * SECTOR;
    this.checkExtent('root directory', recOffset, offset, r.dataLength);
    return { name: '', type: 'directory', size: r.dataLength, runs: [], dir: { offset, size: r.dataLength }, mtime: decodeShortDate(r.date), recordOffset: recOffset };
  }

  /**
   * Metadata reads (directories) go through a small read-ahead window cache: tools lay
   * directories out together, so one 256 KiB read serves many of them.
   */
  private windows = new Map<number, Uint8Array>();
  private async readMeta(offset: number, length: number): Promise<Uint8Array> {
    const W = 256 << 10;
    if (length > W) {
      const data = new Uint8Array(length);
      await this.dev.read(data, offset);
      return data;
    }
    const out = new Uint8Array(length);
    let pos = offset;
    while (pos < offset + length) {
      const w = Math.floor(pos / W) * W;
      let win = this.windows.get(w);
      if (!win) {
        win = new Uint8Array(Math.min(W, this.dev.size - w));
        await this.dev.read(win, w);
        if (this.windows.size >= 16) this.windows.delete(this.windows.keys().next().value!);
        this.windows.set(w, win);
      }
      const n = Math.min(offset + length, w + win.length) - pos;
      out.set(win.subarray(pos - w, pos - w + n), pos - offset);
      pos += n;
    }
    return out;
  }

  private checkExtent(what: string, recOffset: number, offset: number, length: number): void {
    if (offset + length > this.dev.size) {
      throw new CorruptImageError(what, recOffset, `an extent inside the volume (size ${this.dev.size})`, `bytes [${offset}, ${offset + length})`);
    }
  }

  private async probeRockRidge(): Promise<{ present: boolean; skip: number; extensions: string[] }> {
    const root = this.rootNode.dir!;
    if (root.size < 34) return { present: false, skip: 0, extensions: [] };
    const head = new Uint8Array(Math.min(root.size, SECTOR));
    await this.dev.read(head, root.offset);
    const len = head[0]!;
    if (len < 34 || len > head.length) return { present: false, skip: 0, extensions: [] };
    const nameLen = head[32]!;
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const acc = new RockRidgeAccumulator();
    await this.collectSusp(head.subarray(suStart, len), acc, root.offset).catch((e) => this.noteDotDamage(root.offset, e));
    const rr = acc.finish();
    const exts = rr.extensions ?? [];
    const rrExt = exts.some((e) => /^(RRIP_1991A|IEEE_P1282|IEEE_1282)$/.test(e));
    // SUSP in use (SP) and either a Rock Ridge ER or Rock Ridge entries on the root itself.
    return { present: rr.hasSp === true && (rrExt || rr.any === true), skip: rr.spSkip ?? 0, extensions: exts };
  }

  /** Feed a system-use area and its CE chain into an accumulator. */
  private async collectSusp(area: Uint8Array, acc: RockRidgeAccumulator, at: number): Promise<void> {
    const seen = new Set<string>();
    let cur = area;
    for (let n = 0; ; n++) {
      const { ce, stopped } = acc.addArea(cur);
      if (!ce || stopped) return;
      const key = `${ce.block}:${ce.offset}`;
      const off = ce.block * SECTOR + ce.offset;
      if (seen.has(key) || n >= MAX_CE_AREAS) {
        throw new CorruptImageError('Rock Ridge continuation area', off, `a CE chain of at most ${MAX_CE_AREAS} areas that does not loop`, `CE of the record at ${at} leads back to block ${ce.block} offset ${ce.offset}`);
      }
      seen.add(key);
      if (ce.length > 64 * SECTOR || off + ce.length > this.dev.size || ce.offset >= SECTOR) {
        throw new CorruptImageError('Rock Ridge continuation area', off, `an area inside the volume (size ${this.dev.size})`, `block ${ce.block}, offset ${ce.offset}, length ${ce.length} (CE of the record at ${at})`);
      }
      cur = new Uint8Array(ce.length);
      await this.dev.read(cur, off);
    }
  }

  private async readDotRecord(dirOffset: number): Promise<RockRidge | undefined> {
    const head = new Uint8Array(SECTOR);
    if (dirOffset + SECTOR > this.dev.size) return undefined;
    await this.dev.read(head, dirOffset);
    const len = head[0]!;
    if (len < 34) return undefined;
    const nameLen = head[32]!;
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const acc = new RockRidgeAccumulator();
    // The root's '.' carries SP itself; skip bytes apply to every other record.
    await this.collectSusp(head.subarray(suStart + (dirOffset === this.rootNode.dir!.offset ? 0 : this.rrSkip), len), acc, dirOffset).catch((e) => this.noteDotDamage(dirOffset, e));
    return acc.finish();
  }

  /** A '.' record's attributes are partly lost: reported when its directory is listed. */
  private noteDotDamage(dirOffset: number, e: unknown): void {
    if (!(e instanceof CorruptImageError)) throw e;
    if (!this.dotDamage.has(dirOffset)) this.dotDamage.set(dirOffset, e);
  }

  /** Parse one directory's records into nodes (cached). */
  private async loadDir(node: Node): Promise<Node[]> {
    const dir = node.dir!;
    const hit = this.cache.get(dir.offset);
    if (hit) {
      // LRU: move to the back
      this.cache.delete(dir.offset);
      this.cache.set(dir.offset, hit);
      return hit;
    }
    if (dir.size > MAX_DIR_BYTES) throw new UnsupportedFeatureError(`directory of ${dir.size} bytes at ${dir.offset} is too large`);
    this.checkExtent('directory', node.recordOffset, dir.offset, dir.size);
    const data = await this.readMeta(dir.offset, dir.size);
    const out: Node[] = [];
    const damaged: CorruptImageError[] = [];
    const dot = this.dotDamage.get(dir.offset);
    if (dot) damaged.push(dot);
    const byName = new Map<string, Node>();
    let pendingMulti: Node | undefined;
    let pendingId = '';
    let pos = 0;
    let index = 0;
    while (pos < data.length) {
      const len = data[pos]!;
      if (len === 0) {
        // Records never cross a sector: a zero length means padding to the next sector.
        pos = (Math.floor(pos / SECTOR) + 1) * SECTOR;
        continue;
      }
      const recOff = dir.offset + pos;
      if (len < 34 && !(len === 33 + 0)) {
        if (len < 33) throw new CorruptImageError('directory record', recOff, 'a length of at least 33', String(len));
      }
      const sectorEnd = (Math.floor(pos / SECTOR) + 1) * SECTOR;
      if (pos + len > sectorEnd || pos + len > data.length) {
        throw new CorruptImageError('directory record', recOff, 'a record inside one sector', `${len} bytes crossing offset ${dir.offset + Math.min(sectorEnd, data.length)}`);
      }
      const rec = data.subarray(pos, pos + len);
      const r = parseDirRecordFast(rec);
      if (33 + r.nameLength > len) throw new CorruptImageError('directory record', recOff, `an identifier inside the record (${len} bytes)`, `${r.nameLength} bytes`);
      pos += len;
      const i = index++;
      const nameBytes = rec.subarray(33, 33 + r.nameLength);
      if (i < 2 && r.nameLength === 1 && (nameBytes[0] === 0 || nameBytes[0] === 1)) continue; // '.' and '..'
      if (r.flags & FLAG_ASSOCIATED) continue;
      let n: Node | undefined;
      try {
        const got = this.recordToNode(r, rec, nameBytes, recOff);
        n = got instanceof Promise ? await got : got;
      } catch (e) {
        // One damaged record (a looping CE chain): the rest of the directory is still listed.
        if (!(e instanceof CorruptImageError)) throw e;
        damaged.push(e);
        continue;
      }
      if (!n) continue;
      // Multi-extent: consecutive records with the same name, all but the last flagged.
      if (pendingMulti) {
        // the parts of a multi-extent file share their ISO identifier (Rock Ridge NM may be on the first only)
        const same = pendingId === aString(nameBytes);
        if (same) {
          const base = pendingMulti.size;
          for (const run of n.runs) pendingMulti.runs.push({ ...run, at: run.at + base });
          pendingMulti.size += n.size;
          if (!(r.flags & FLAG_MULTI_EXTENT)) pendingMulti = undefined;
          continue;
        }
        pendingMulti = undefined;
      }
      if (n.rr?.relocated) continue; // shown where its CL placeholder stands
      if (isBadName(n.name)) {
        damaged.push(new CorruptImageError('directory record', recOff, 'a name usable as one path component', JSON.stringify(n.name)));
        continue;
      }
      if (byName.has(n.name)) {
        if (!(r.flags & FLAG_MULTI_EXTENT)) damaged.push(new CorruptImageError('directory record', recOff, 'a name not already in the directory', JSON.stringify(n.name)));
        continue;
      }
      byName.set(n.name, n);
      out.push(n);
      if (r.flags & FLAG_MULTI_EXTENT && n.type !== 'directory') {
        pendingMulti = n;
        pendingId = aString(nameBytes);
      }
    }
    this.cacheSizes.set(dir.offset, data.length);
    this.cacheBytes += data.length;
    while (this.cache.size > 0 && (this.cacheBytes > 8 << 20 || this.cache.size >= 32)) {
      const old = this.cache.keys().next().value!;
      this.cache.delete(old);
      this.cacheBytes -= this.cacheSizes.get(old) ?? 0;
      this.cacheSizes.delete(old);
    }
    this.cache.set(dir.offset, out);
    if (damaged.length) this.damage.set(out, damaged);
    return out;
  }

  /** Most records decode synchronously; CE continuations and CL links need reads. */
  private recordToNode(r: RawDirRecord, rec: Uint8Array, nameBytes: Uint8Array, recOff: number): Node | undefined | Promise<Node | undefined> {
    let rr: RockRidge | undefined;
    if (this.useRR) {
      const suStart = 33 + r.nameLength + (r.nameLength % 2 === 0 ? 1 : 0) + this.rrSkip;
      if (suStart < rec.length) {
        const acc = new RockRidgeAccumulator();
        const res = acc.addArea(rec.subarray(suStart));
        if (res.ce && !res.stopped) return this.recordToNodeSlow(r, rec, nameBytes, recOff);
        rr = acc.finish();
        if (rr.childLink !== undefined) return this.recordToNodeSlow(r, rec, nameBytes, recOff);
      }
    }
    return this.buildNode(r, nameBytes, recOff, rr);
  }

  private isoName(r: RawDirRecord, nameBytes: Uint8Array): string {
    const isDir = (r.flags & FLAG_DIRECTORY) !== 0;
    if (this.joliet) return ucs2String(nameBytes, false).replace(/;\d*$/, '');
    // ISO 9660:1999 (level 4) names may hold any bytes: UTF-8 when they decode as such, else Latin-1.
    const name = decodeName(nameBytes);
    return isDir ? name : name.replace(/;\d*$/, '').replace(/\.$/, '');
  }

  private async recordToNodeSlow(r: RawDirRecord, rec: Uint8Array, nameBytes: Uint8Array, recOff: number): Promise<Node | undefined> {
    let rr: RockRidge | undefined;
    if (this.useRR) {
      const suStart = 33 + r.nameLength + (r.nameLength % 2 === 0 ? 1 : 0) + this.rrSkip;
      if (suStart < rec.length) {
        const acc = new RockRidgeAccumulator();
        await this.collectSusp(rec.subarray(suStart), acc, recOff);
        rr = acc.finish();
      }
    }
    if (rr?.childLink !== undefined) {
      const name = rr.name ?? this.isoName(r, nameBytes);
      const node: Node = { name, type: 'directory', size: 0, runs: [], rr, recordOffset: recOff, mtime: decodeShortDate(r.date) };
      // A placeholder for a relocated directory: the real one lives at the CL block.
      const off = rr.childLink * SECTOR;
      if (off + SECTOR > this.dev.size) {
        throw new CorruptImageError('Rock Ridge CL entry', recOff, `a child link inside the volume (size ${this.dev.size})`, `block ${rr.childLink}`);
      }
      const head = new Uint8Array(SECTOR);
      await this.dev.read(head, off);
      const dot = parseDirRecord(head);
      const dotRr = await this.readDotRecord(off);
      node.size = dot.dataLength;
      node.dir = { offset: off, size: dot.dataLength };
      if (dotRr) node.rr = { ...dotRr, name: rr.name };
      return node;
    }
    return this.buildNode(r, nameBytes, recOff, rr);
  }

  private buildNode(r: RawDirRecord, nameBytes: Uint8Array, recOff: number, rr: RockRidge | undefined): Node {
    const isDir = (r.flags & FLAG_DIRECTORY) !== 0;
    const name = rr?.name ?? this.isoName(r, nameBytes);
    const dataOffset = (r.extent + r.extAttrLength) * SECTOR;
    const node: Node = { name, type: isDir ? 'directory' : 'file', size: r.dataLength, runs: [], rr, hidden: (r.flags & FLAG_HIDDEN) !== 0, recordOffset: recOff, mtime: rr?.mtime ?? decodeShortDate(r.date) };
    if (isDir) {
      node.dir = { offset: dataOffset, size: r.dataLength };
      return node;
    }
    if (r.unitSize || r.gapSize) {
      // Interleaved: file units of unitSize blocks separated by gaps of gapSize blocks.
      if (!r.unitSize) throw new CorruptImageError('directory record', recOff, 'a non-zero file unit size with an interleave gap', '0');
      let left = r.dataLength;
      let fo = 0;
      let dev = dataOffset;
      if (r.dataLength / (r.unitSize * SECTOR) > 65536) throw new UnsupportedFeatureError(`interleaved file at ${recOff} with more than 65536 file units`);
      while (left > 0) {
        const l = Math.min(left, r.unitSize * SECTOR);
        node.runs.push({ at: fo, from: dev, length: l });
        fo += l;
        left -= l;
        dev += (r.unitSize + r.gapSize) * SECTOR;
      }
    } else if (r.dataLength > 0) node.runs.push({ at: 0, from: dataOffset, length: r.dataLength });
    const last = node.runs[node.runs.length - 1];
    if (last && last.from! + last.length > this.dev.size) {
      throw new CorruptImageError('directory record', recOff, `file data inside the volume (size ${this.dev.size})`, `bytes [${node.runs[0]!.from}, ${last.from! + last.length})`);
    }
    if (rr?.mode !== undefined) {
      const fmt = rr.mode & 0o170000;
      if (fmt === 0o120000) node.type = 'symlink';
      else if (fmt !== 0o100000 && fmt !== 0 && fmt !== 0o040000) node.type = 'other';
    }
    if (rr?.target !== undefined && node.type === 'file') node.type = 'symlink';
    return node;
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
      const kids = await this.loadDir(node);
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
    const kids = await this.loadDir(node);
    const out: FileEntry[] = [];
    for (const k of kids) {
      const e = this.entry(p, k);
      if (k.dir && !this.dirOwners.has(k.dir.offset)) this.dirOwners.set(k.dir.offset, e.path);
      out.push(e);
    }
    const damaged = this.damage.get(kids);
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


/** Does `dev` hold an ISO9660 volume (CD001 at byte 32769)? */
export async function hasCd001(dev: BlockDevice): Promise<boolean> {
  if (dev.size < (VD_START + 1) * SECTOR) return false;
  const b = new Uint8Array(6);
  await dev.read(b, VD_START * SECTOR);
  return b[1] === 0x43 && b[2] === 0x44 && b[3] === 0x30 && b[4] === 0x30 && b[5] === 0x31;
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
