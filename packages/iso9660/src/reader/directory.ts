/**
 * Reading directories: records into nodes (with their Rock Ridge entries and CE chains), a bounded
 * cache of parsed directories, and the damage found in each (reported when it is listed).
 */
import { CorruptImageError, UnsupportedFeatureError, type BlockDevice } from '@diskit/core';
import { SECTOR, parseDirRecord, parseDirRecordFast, decodeShortDate, aString, FLAG_ASSOCIATED, FLAG_MULTI_EXTENT, type RawDirRecord } from '../structs.js';
import { RockRidgeAccumulator, type RockRidge } from '../susp.js';
import { buildNode, checkExtent, isBadName, isoName, type Node } from './record.js';

const MAX_DIR_BYTES = 256 << 20;
const MAX_CE_AREAS = 64;

export interface ReaderOptions {
  /** Names and attributes from Rock Ridge (the primary tree only). */
  useRR: boolean;
  /** SUSP bytes to skip before each system use area but the root's '.' (SP len_skp). */
  rrSkip: number;
  /** Identifiers are UCS-2 (the Joliet tree). */
  joliet: boolean;
}

export class DirectoryReader {
  private cache = new Map<number, Node[]>();
  /** Records of a directory that could not be read (keyed by the listing): readdir reports them. */
  private damage = new WeakMap<Node[], CorruptImageError[]>();
  /** Damage found in a directory's own '.' record (its Rock Ridge attributes), by extent offset. */
  private dotDamage = new Map<number, CorruptImageError>();
  private cacheBytes = 0;
  private cacheSizes = new Map<number, number>();

  constructor(
    readonly dev: BlockDevice,
    readonly opts: ReaderOptions,
    /** The root directory's extent: its '.' record carries SP, so no skip bytes apply to it. */
    private readonly rootOffset: number,
  ) {}

  /** The records of a listing that could not be read. */
  damageOf(kids: Node[]): CorruptImageError[] | undefined {
    return this.damage.get(kids);
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

  /** Rock Ridge on the primary tree: SP (and its skip) and ER on the root's '.' record. */
  async probeRockRidge(root: { offset: number; size: number }): Promise<{ present: boolean; skip: number; extensions: string[] }> {
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

  /** A directory's own attributes, from its '.' record. */
  async readDotRecord(dirOffset: number): Promise<RockRidge | undefined> {
    const head = new Uint8Array(SECTOR);
    if (dirOffset + SECTOR > this.dev.size) return undefined;
    await this.dev.read(head, dirOffset);
    const len = head[0]!;
    if (len < 34) return undefined;
    const nameLen = head[32]!;
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const acc = new RockRidgeAccumulator();
    // The root's '.' carries SP itself; skip bytes apply to every other record.
    await this.collectSusp(head.subarray(suStart + (dirOffset === this.rootOffset ? 0 : this.opts.rrSkip), len), acc, dirOffset).catch((e) => this.noteDotDamage(dirOffset, e));
    return acc.finish();
  }

  /** A '.' record's attributes are partly lost: reported when its directory is listed. */
  private noteDotDamage(dirOffset: number, e: unknown): void {
    if (!(e instanceof CorruptImageError)) throw e;
    if (!this.dotDamage.has(dirOffset)) this.dotDamage.set(dirOffset, e);
  }

  /** Parse one directory's records into nodes (cached). */
  async loadDir(node: Node): Promise<Node[]> {
    const dir = node.dir!;
    const hit = this.cache.get(dir.offset);
    if (hit) {
      // LRU: move to the back
      this.cache.delete(dir.offset);
      this.cache.set(dir.offset, hit);
      return hit;
    }
    if (dir.size > MAX_DIR_BYTES) throw new UnsupportedFeatureError(`directory of ${dir.size} bytes at ${dir.offset} is too large`);
    checkExtent(this.dev, 'directory', node.recordOffset, dir.offset, dir.size);
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
    if (this.opts.useRR) {
      const suStart = 33 + r.nameLength + (r.nameLength % 2 === 0 ? 1 : 0) + this.opts.rrSkip;
      if (suStart < rec.length) {
        const acc = new RockRidgeAccumulator();
        const res = acc.addArea(rec.subarray(suStart));
        if (res.ce && !res.stopped) return this.recordToNodeSlow(r, rec, nameBytes, recOff);
        rr = acc.finish();
        if (rr.childLink !== undefined) return this.recordToNodeSlow(r, rec, nameBytes, recOff);
      }
    }
    return buildNode(this.dev, r, rr?.name ?? isoName(r, nameBytes, this.opts.joliet), recOff, rr);
  }

  private async recordToNodeSlow(r: RawDirRecord, rec: Uint8Array, nameBytes: Uint8Array, recOff: number): Promise<Node | undefined> {
    let rr: RockRidge | undefined;
    if (this.opts.useRR) {
      const suStart = 33 + r.nameLength + (r.nameLength % 2 === 0 ? 1 : 0) + this.opts.rrSkip;
      if (suStart < rec.length) {
        const acc = new RockRidgeAccumulator();
        await this.collectSusp(rec.subarray(suStart), acc, recOff);
        rr = acc.finish();
      }
    }
    if (rr?.childLink !== undefined) {
      const name = rr.name ?? isoName(r, nameBytes, this.opts.joliet);
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
    return buildNode(this.dev, r, rr?.name ?? isoName(r, nameBytes, this.opts.joliet), recOff, rr);
  }
}
