/** A VHD image opened for reading (and writing, when the file is writable): the virtual disk as a BlockDevice. */
import {
  CorruptImageError, DeviceRangeError, TruncatedImageError, UnsupportedFeatureError, blockPieces, checkRange, coalesceExtents, extentWindow,
  type BlockDevice, type CheckReport, type Extent, type Image, type Inspection, type OpenOptions, type Problem,
} from '@diskit/core';
import { readByBlocks, roundUp } from '../util.js';
import { ParentedImage } from '../parent.js';
import { DISK_TYPES, VHD_FOOTER_SIZE, readFooter, vhdVirtualSize, type VhdDiskType, type VhdFooter } from './footer.js';
import { readDynamicHeader, type VhdDynamicHeader } from './dynamic-header.js';
import { UNALLOCATED, bitRuns, bitmapSizeOf, blocksEnd, readBat } from './bat.js';
import { parentCandidates } from './parent-locator.js';
import { checkVhd } from './check.js';
import { inspectVhd, vhdInfo } from './inspect.js';

interface ChainContext {
  /** Unique ids of the disks already open in this chain, child first. */
  ids: string[];
}

export class VhdImage extends ParentedImage implements Image {
  readonly format = 'vhd';
  readonly variant: VhdDiskType;
  readonly size: number;
  readonly sizeSource: 'chs' | 'currentSize';
  readonly blockSize: number;
  readonly bitmapSize: number;
  /** Where the footer sits (end - 512), and where the next allocated block goes. */
  footerOffset: number;
  private bitmaps = new Map<number, Uint8Array>();
  /** Problems found at open that are not damage read around (a parent smaller than the child): check reports them. */
  readonly openProblems: Problem[] = [];
  parent?: VhdImage;

  private constructor(
    readonly file: BlockDevice,
    readonly footer: VhdFooter,
    public footerBytes: Uint8Array,
    footerOffset: number,
    readonly header: VhdDynamicHeader | undefined,
    readonly bat: Uint32Array | undefined,
    warnings: Problem[],
    private readonly writable: boolean,
  ) {
    super();
    this.variant = DISK_TYPES[footer.diskType]!;
    const vs = vhdVirtualSize(footer);
    this.size = vs.size;
    this.sizeSource = vs.source;
    this.blockSize = header?.blockSize ?? 0;
    this.bitmapSize = header ? bitmapSizeOf(header.blockSize) : 0;
    this.footerOffset = footerOffset;
    this.ownWarnings.push(...warnings);
  }

  get readOnly(): boolean {
    return !this.writable || this.file.readOnly;
  }

  static async open(file: BlockDevice, opts: OpenOptions = {}, chain: ChainContext = { ids: [] }): Promise<VhdImage> {
    const { footer, bytes: footerBytes, offset: footerOffset, warnings } = await readFooter(file);
    if (chain.ids.includes(footer.uniqueId)) {
      throw new CorruptImageError('VHD parent chain', footerOffset + 68, 'an acyclic chain of parents', `${footer.uniqueId} appears twice`);
    }
    if (chain.ids.length > 64) throw new CorruptImageError('VHD parent chain', 0, 'at most 64 levels', `${chain.ids.length}`);

    if (footer.diskType === 2) {
      const vs = vhdVirtualSize(footer);
      if (vs.size > footerOffset) throw new TruncatedImageError('VHD fixed disk data', 0, vs.size, footerOffset);
      return new VhdImage(file, footer, footerBytes, footerOffset, undefined, undefined, warnings, !!opts.writable);
    }

    const header = await readDynamicHeader(file, footer, footerOffset, warnings);
    const bat = await readBat(file, header);
    const img = new VhdImage(file, footer, footerBytes, footerOffset, header, bat, warnings, !!opts.writable);
    // Without a footer at the end (damaged, or the file cut short) the footer's place is after the
    // last block: the last 512 bytes when they hold no block, else the end of the last block.
    if (footerOffset === file.size) img.footerOffset = Math.max(blocksEnd(header, bat, header.blockSize), file.size - VHD_FOOTER_SIZE);

    if (footer.diskType === 4) await img.openParent(opts, { ids: [...chain.ids, footer.uniqueId] });
    return img;
  }

  /** Candidate names for the parent, best first. */
  parentCandidates(): Promise<{ source: string; name: string }[]> {
    return parentCandidates(this.file, this.header!);
  }

  private async openParent(opts: OpenOptions, chain: ChainContext): Promise<void> {
    const h = this.header!;
    const openRelative = opts.openRelative;
    if (!openRelative) throw new UnsupportedFeatureError(`differencing VHD needs its parent '${h.parentUnicodeName}', and files cannot be opened here`);
    const parent = await this.adoptParent(
      async () => (await this.parentCandidates()).map((c) => c.name),
      { ...opts, openRelative },
      (file, o) => VhdImage.open(file, o, chain),
      (p, name) => p.footer.uniqueId === h.parentUniqueId ? undefined
        : new CorruptImageError('VHD dynamic header', Number(this.footer.dataOffset) + 40, `parent unique id ${h.parentUniqueId}`, `${p.footer.uniqueId} in ${name}`),
      (tried) => new CorruptImageError('VHD parent locator', Number(this.footer.dataOffset) + 576, `a readable parent (${h.parentUnicodeName})`, `none of ${JSON.stringify(tried)} could be opened`),
    );
    if (parent.size < this.size) {
      // A parent smaller than the child reads as zeros past its end.
      this.openProblems.push({ severity: 'warning', structure: 'VHD parent', message: `parent ${this.parentName} is smaller (${parent.size}) than the child (${this.size})` });
    }
  }

  private blockDataOffset(blk: number): number {
    const e = this.bat![blk]!;
    const off = e * 512 + this.bitmapSize;
    const need = Math.min(this.blockSize, this.size - blk * this.blockSize);
    if (e * 512 < VHD_FOOTER_SIZE || off + need > this.file.size) {
      throw new TruncatedImageError(`VHD block ${blk}`, e * 512, this.bitmapSize + need, this.file.size);
    }
    return off;
  }

  private async bitmap(blk: number): Promise<Uint8Array> {
    let b = this.bitmaps.get(blk);
    if (!b) {
      b = new Uint8Array(this.bitmapSize);
      const off = this.bat![blk]! * 512;
      if (off + this.bitmapSize > this.file.size) throw new TruncatedImageError(`VHD block ${blk} bitmap`, off, this.bitmapSize, this.file.size);
      await this.file.read(b, off);
      // Bounded: 4096 bitmaps, and no more than 16 MiB of them (1 GiB blocks have 256 KiB bitmaps).
      if (this.bitmaps.size > Math.min(4096, (16 << 20) / this.bitmapSize)) this.bitmaps.clear();
      this.bitmaps.set(blk, b);
    }
    return b;
  }

  private async readParent(into: Uint8Array, offset: number): Promise<void> {
    const p = this.parent!;
    const avail = Math.max(0, Math.min(into.length, p.size - offset));
    if (avail > 0) await p.read(into.subarray(0, avail), offset);
    if (avail < into.length) into.fill(0, avail);
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    if (this.variant === 'fixed') return this.file.read(into, offset);
    const bs = this.blockSize;
    return readByBlocks(into, offset, bs, async ({ block: blk, inBlock: inBlk, offset: voff, into: piece }, ops) => {
      if (this.bat![blk] === UNALLOCATED) {
        if (this.parent) ops.push(this.readParent(piece, voff));
        else piece.fill(0);
        return;
      }
      const base = this.blockDataOffset(blk);
      if (!this.parent) return void ops.push(this.file.read(piece, base + inBlk));
      // Sector by sector: present ones from this file, the rest from the parent.
      bitRuns(await this.bitmap(blk), inBlk, inBlk + piece.length, (s, e, set) => {
        const sub = piece.subarray(s - inBlk, e - inBlk);
        ops.push(set ? this.file.read(sub, base + s) : this.readParent(sub, blk * bs + s));
      });
    });
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    if (end <= start) return;
    if (this.variant === 'fixed') {
      yield* this.file.extents(start, end - start);
      return;
    }
    yield* coalesceExtents(this.blockExtents(start, end));
  }

  /** Block by block, unmerged: allocation from the BAT, sector bitmaps and the parent. */
  private async *blockExtents(start: number, end: number): AsyncGenerator<Extent> {
    const bs = this.blockSize;
    const parentExtents = async function* (p: BlockDevice, s: number, e: number): AsyncGenerator<Extent> {
      const pe = Math.min(e, p.size);
      if (pe > s) yield* p.extents(s, pe - s);
      if (e > Math.max(s, pe)) yield { offset: Math.max(s, pe), length: e - Math.max(s, pe), kind: 'unallocated' };
    };
    for (let pos = start; pos < end; ) {
      const blk = Math.floor(pos / bs);
      const bend = Math.min(end, (blk + 1) * bs);
      if (this.bat![blk] === UNALLOCATED) {
        if (this.parent) yield* parentExtents(this.parent, pos, bend);
        else yield { offset: pos, length: bend - pos, kind: 'unallocated' };
      } else if (!this.parent) {
        yield { offset: pos, length: bend - pos, kind: 'data' };
      } else {
        const bm = await this.bitmap(blk);
        const runs: [number, number, boolean][] = [];
        bitRuns(bm, pos - blk * bs, bend - blk * bs, (s, e, set) => runs.push([s + blk * bs, e + blk * bs, set]));
        for (const [s, e, set] of runs) {
          if (set) yield { offset: s, length: e - s, kind: 'data' };
          else yield* parentExtents(this.parent, s, e);
        }
      }
      pos = bend;
    }
  }

  // ---- writing -------------------------------------------------------------------------------

  async write(from: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DeviceRangeError('VHD image is open read-only');
    checkRange(this, offset, from.length, 'write');
    if (this.variant === 'fixed') return this.file.write(from, offset);
    for (const p of blockPieces(offset, from.length, this.blockSize)) {
      await this.writeInBlock(p.block, p.inBlock, from.subarray(p.at, p.at + p.length));
    }
  }

  private async writeInBlock(blk: number, inBlk: number, data: Uint8Array): Promise<void> {
    const bs = this.blockSize;
    const fresh = this.bat![blk] === UNALLOCATED;
    // Differencing disks track sectors: widen a partial-sector write to whole sectors with the current bytes.
    let s = inBlk;
    let buf = data;
    if (this.parent) {
      const s0 = Math.floor(inBlk / 512) * 512;
      const s1 = Math.min(bs, roundUp(inBlk + data.length, 512));
      if (s0 !== inBlk || s1 !== inBlk + data.length) {
        buf = new Uint8Array(s1 - s0);
        const vs = blk * bs + s0;
        const readable = Math.min(buf.length, this.size - vs);
        await this.read(buf.subarray(0, readable), vs);
        buf.set(data, inBlk - s0);
        s = s0;
      }
    }
    if (fresh) {
      const at = roundUp(this.footerOffset, 512);
      const bm = new Uint8Array(this.bitmapSize);
      if (!this.parent) bm.fill(0xff);
      this.bat![blk] = at / 512;
      await this.file.write(bm, at);
      this.bitmaps.set(blk, bm);
      this.footerOffset = at + this.bitmapSize + bs;
      await this.file.write(this.footerBytes, this.footerOffset);
      const e = new Uint8Array(4);
      new DataView(e.buffer).setUint32(0, at / 512);
      await this.file.write(e, this.header!.tableOffset + blk * 4);
    }
    const base = this.bat![blk]! * 512 + this.bitmapSize;
    await this.file.write(buf, base + s);
    if (this.parent) {
      const bm = await this.bitmap(blk);
      const first = s / 512;
      const last = (s + buf.length) / 512;
      let changed = false;
      for (let i = first; i < last; i++) {
        const m = 0x80 >> (i & 7);
        if (!(bm[i >> 3]! & m)) {
          bm[i >> 3] = bm[i >> 3]! | m;
          changed = true;
        }
      }
      if (changed) await this.file.write(bm, this.bat![blk]! * 512);
    }
  }

  inspect = (): Promise<Inspection> => inspectVhd(this);
  info = (): Promise<Record<string, unknown>> => vhdInfo(this);
  protected checkOwn = (opts: { repair?: boolean }): Promise<CheckReport> => checkVhd(this, opts);
}
