/** A VHDX image opened for reading (and writing into dynamic and differencing images): the virtual disk as a BlockDevice. */
import {
  CorruptImageError, DeviceRangeError, TruncatedImageError, UnsupportedFeatureError, blockPieces, checkRange, coalesceExtents,
  extentWindow, randomGuid, type BlockDevice, type CheckReport, type Extent, type Image, type Inspection, type OpenOptions,
} from '@diskit/core';
import { readByBlocks, roundUp } from '../util.js';
import { ParentedImage } from '../parent.js';
import { KiB, MiB, VHDX_HEADER_OFFSETS, ZERO_GUID } from './layout.js';
import { readFileIdentifier, readHeaders, writeHeaders, type VhdxHeader } from './header.js';
import { readRegionTables, type VhdxRegion } from './region-table.js';
import { readMetadata, type VhdxMetadataEntry } from './metadata.js';
import {
  FULLY_PRESENT, PARTIALLY_PRESENT, PAYLOAD_ZERO, batEntries, batIndexOf, bitRuns, chunkRatioOf, isBitmapEntry, readBat, setBatEntry,
} from './bat.js';
import { LOG_SECTOR, LogOverlay, readVhdxLog, writeVhdxLog, type LogEntry } from './log.js';
import { VHDX_PARENT_TYPE, parentLinkage, parentNames, type VhdxParentLocator } from './parent-locator.js';
import { checkVhdx } from './check.js';
import { inspectVhdx, vhdxInfo } from './inspect.js';

export class VhdxImage extends ParentedImage implements Image {
  readonly format = 'vhdx';
  variant!: 'fixed' | 'dynamic' | 'differencing';
  size!: number;
  blockSize!: number;
  logicalSectorSize!: number;
  physicalSectorSize!: number;
  diskId!: string;
  leaveBlocksAllocated!: boolean;
  hasParent!: boolean;
  chunkRatio!: number;
  header!: VhdxHeader;
  headerIndex!: number;
  headersValid!: boolean[];
  regions!: VhdxRegion[];
  regionTablesValid!: boolean[];
  metadataEntries!: VhdxMetadataEntry[];
  metadataOffset!: number;
  batOffset!: number;
  batStates!: Uint8Array;
  batOffsets!: Float64Array;
  log: LogEntry[] = [];
  creator = '';
  /** The file as read (with the log applied in memory when dirty). */
  dev!: BlockDevice;
  /** Differencing: the parent locator's key/value pairs, and the parent once open. */
  parentLocator?: VhdxParentLocator;
  parent?: Image;
  private bitmaps = new Map<number, Uint8Array>();
  /** Where the next allocated block goes (1 MiB aligned). */
  private fileEnd = 0;
  private headerUpdated = false;

  private constructor(readonly file: BlockDevice, private readonly writable: boolean) {
    super();
  }

  get readOnly(): boolean {
    return !this.writable || this.file.readOnly;
  }

  static async open(file: BlockDevice, opts: OpenOptions = {}, chain: string[] = []): Promise<VhdxImage> {
    const img = new VhdxImage(file, !!opts.writable);
    await img.load();
    if (img.hasParent) {
      if (chain.includes(img.header.dataWriteGuid)) {
        throw new CorruptImageError('VHDX parent chain', VHDX_HEADER_OFFSETS[img.headerIndex], 'an acyclic chain of parents', `${img.header.dataWriteGuid} appears twice`);
      }
      if (chain.length > 64) throw new CorruptImageError('VHDX parent chain', 0, 'at most 64 levels', String(chain.length));
      await img.openParent(opts, [...chain, img.header.dataWriteGuid]);
    }
    return img;
  }

  private async openParent(opts: OpenOptions, chain: string[]): Promise<void> {
    const loc = this.parentLocator;
    if (!loc) throw new CorruptImageError('VHDX metadata', this.metadataOffset, 'a parent locator item in a differencing image', 'none');
    if (loc.type !== VHDX_PARENT_TYPE) throw new UnsupportedFeatureError(`VHDX parent locator type ${loc.type} (only VHDX parents are supported)`);
    const openRelative = opts.openRelative;
    if (!openRelative) throw new UnsupportedFeatureError('differencing VHDX needs its parent, and files cannot be opened here');
    const linkage = parentLinkage(loc.entries);
    if (!linkage.length) throw new CorruptImageError('VHDX parent locator', this.metadataOffset, 'a parent_linkage entry', 'none');
    await this.adoptParent(
      async () => parentNames(loc.entries),
      { ...opts, openRelative },
      (file, o) => VhdxImage.open(file, o, chain),
      (p, name) => {
        if (!linkage.includes(p.header.dataWriteGuid)) {
          return new CorruptImageError('VHDX parent locator', this.metadataOffset, `a parent with DataWriteGuid ${linkage.join(' or ')}`, `${p.header.dataWriteGuid} in ${name}`);
        }
        if (p.size !== this.size || p.logicalSectorSize !== this.logicalSectorSize) {
          return new CorruptImageError('VHDX parent', this.metadataOffset, `a parent of ${this.size} bytes with ${this.logicalSectorSize}-byte sectors`, `${p.size} bytes, ${p.logicalSectorSize}-byte sectors`);
        }
        return undefined;
      },
      (tried) => new CorruptImageError('VHDX parent locator', this.metadataOffset, 'a readable parent', `none of ${JSON.stringify(tried)} could be opened`),
    );
  }

  /** (Re)read every structure: identifier, headers, log, region tables, metadata, BAT. */
  async load(): Promise<void> {
    const file = this.file;
    if (file.size < 320 * KiB) throw new TruncatedImageError('VHDX file', 0, 320 * KiB, file.size);
    this.creator = await readFileIdentifier(file);
    const hs = await readHeaders(file);
    this.header = hs.header;
    this.headerIndex = hs.index;
    this.headersValid = hs.valid;
    this.ownWarnings.splice(0, this.ownWarnings.length, ...hs.warnings);
    this.log = await readVhdxLog(file, hs.header);
    if (this.log.length) {
      for (const e of this.log) {
        if (e.header.flushedFileOffset > file.size) throw new TruncatedImageError('VHDX log entry (FlushedFileOffset)', this.header.logOffset + e.logOffset, e.header.flushedFileOffset, file.size);
      }
      this.dev = new LogOverlay(file, this.log);
    } else this.dev = file;
    const dev = this.dev;

    const rt = await readRegionTables(dev);
    this.regionTablesValid = rt.valid;
    this.ownWarnings.push(...rt.warnings);
    this.regions = rt.regions;

    const m = await readMetadata(dev, rt.metadata);
    this.metadataOffset = rt.metadata.fileOffset;
    this.metadataEntries = m.entries;
    this.blockSize = m.blockSize;
    this.leaveBlocksAllocated = m.leaveBlocksAllocated;
    this.hasParent = m.hasParent;
    this.size = m.size;
    this.diskId = m.diskId;
    this.logicalSectorSize = m.logicalSectorSize;
    this.physicalSectorSize = m.physicalSectorSize;
    this.variant = this.hasParent ? 'differencing' : this.leaveBlocksAllocated ? 'fixed' : 'dynamic';
    this.parentLocator = m.parentLocator;

    this.chunkRatio = chunkRatioOf(this.logicalSectorSize, this.blockSize);
    const total = batEntries(Math.ceil(this.size / this.blockSize), this.chunkRatio, this.hasParent);
    this.batOffset = rt.bat.fileOffset;
    const bat = await readBat(dev, rt.bat, total);
    this.batStates = bat.states;
    this.batOffsets = bat.offsets;
    let end = Math.max(this.file.size, this.dev.size);
    for (let i = 0; i < total; i++) {
      if (this.batStates[i] === FULLY_PRESENT || this.batStates[i] === PARTIALLY_PRESENT) {
        end = Math.max(end, this.batOffsets[i]! * MiB + (isBitmapEntry(i, this.chunkRatio) ? MiB : this.blockSize));
      }
    }
    this.fileEnd = roundUp(end, MiB);
    this.bitmaps.clear();
  }

  /** The sector bitmap bits of payload block `blk` (one bit per logical sector, LSB first). */
  private async blockBitmap(blk: number): Promise<Uint8Array | undefined> {
    let b = this.bitmaps.get(blk);
    if (b) return b;
    const chunk = Math.floor(blk / this.chunkRatio);
    const idx = chunk * (this.chunkRatio + 1) + this.chunkRatio;
    if (this.batStates[idx] !== FULLY_PRESENT) return undefined;
    const bytes = this.blockSize / this.logicalSectorSize / 8;
    const off = this.batOffsets[idx]! * MiB + (blk % this.chunkRatio) * bytes;
    if (off < MiB || off + bytes > this.dev.size) throw new TruncatedImageError(`VHDX sector bitmap (BAT entry ${idx})`, off, bytes, this.dev.size);
    b = new Uint8Array(bytes);
    await this.dev.read(b, off);
    // Bounded: 4096 bitmaps, and no more than 16 MiB of them.
    if (this.bitmaps.size > Math.min(4096, (16 << 20) / bytes)) this.bitmaps.clear();
    this.bitmaps.set(blk, b);
    return b;
  }

  private bitRuns(bm: Uint8Array | undefined, from: number, to: number): [number, number, boolean][] {
    return bitRuns(bm, this.logicalSectorSize, from, to);
  }

  private batIndex(blk: number): number {
    return batIndexOf(blk, this.chunkRatio);
  }

  private blockOffset(blk: number): number {
    const idx = this.batIndex(blk);
    const off = this.batOffsets[idx]! * MiB;
    const need = Math.min(this.blockSize, this.size - blk * this.blockSize);
    if (off < MiB || off + need > this.dev.size) {
      throw new TruncatedImageError(`VHDX payload block ${blk} (BAT entry ${idx})`, off, need, this.dev.size);
    }
    return off;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const bs = this.blockSize;
    return readByBlocks(into, offset, bs, async ({ block: blk, inBlock: inBlk, offset: voff, into: piece }, ops) => {
      const st = this.batStates[this.batIndex(blk)]!;
      if (st === FULLY_PRESENT || (st === PARTIALLY_PRESENT && !this.parent)) ops.push(this.dev.read(piece, this.blockOffset(blk) + inBlk));
      else if (st === PARTIALLY_PRESENT) {
        const base = this.blockOffset(blk);
        for (const [a, b, present] of this.bitRuns(await this.blockBitmap(blk), inBlk, inBlk + piece.length)) {
          const sub = piece.subarray(a - inBlk, b - inBlk);
          ops.push(present ? this.dev.read(sub, base + a) : this.parent!.read(sub, blk * bs + a));
        }
      } else if (this.parent && st !== PAYLOAD_ZERO) ops.push(this.parent.read(piece, voff));
      else piece.fill(0);
    });
  }

  // ---- writing (dynamic and differencing images; BAT updates go through the log) ----

  async write(from: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DeviceRangeError('VHDX image is open read-only');
    if (this.log.length) throw new UnsupportedFeatureError('the VHDX log must be replayed before writing (check --repair)');
    checkRange(this, offset, from.length, 'write');
    if (!this.headerUpdated) {
      // A new FileWriteGuid on the first write, and a new DataWriteGuid since the disk's data changes.
      this.header = { ...this.header, fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid() };
      await writeHeaders(this.file, this.header, this.headerIndex);
      this.header = { ...this.header, sequenceNumber: this.header.sequenceNumber + 2n };
      this.headersValid = [true, true];
      this.headerUpdated = true;
    }
    for (const p of blockPieces(offset, from.length, this.blockSize)) {
      await this.writeInBlock(p.block, p.inBlock, from.subarray(p.at, p.at + p.length));
    }
  }

  /**
   * Change one BAT entry crash-safely, as the specification asks: the payload is made durable,
   * the new BAT sector goes into the log (LogGuid set), is applied, and the log is emptied again.
   */
  private async setBat(idx: number, state: number, fileOffset: number): Promise<void> {
    const sectorOff = this.batOffset + Math.floor((idx * 8) / LOG_SECTOR) * LOG_SECTOR;
    const sector = new Uint8Array(LOG_SECTOR);
    await this.file.read(sector, sectorOff);
    const inSector = ((idx * 8) % LOG_SECTOR) / 8;
    setBatEntry(new DataView(sector.buffer), inSector, state, fileOffset);
    await this.file.flush();
    await writeVhdxLog(this.file, [{ ops: [{ fileOffset: sectorOff, data: sector }], lastFileOffset: this.fileEnd }]);
    await this.file.write(sector, sectorOff);
    await this.file.flush();
    const cur = await readHeaders(this.file);
    await writeHeaders(this.file, { ...cur.header, logGuid: ZERO_GUID }, cur.index);
    const after = await readHeaders(this.file);
    this.header = after.header;
    this.headerIndex = after.index;
    this.batStates[idx] = state;
    this.batOffsets[idx] = fileOffset / MiB;
  }

  private allocate(len: number): number {
    const at = this.fileEnd;
    this.fileEnd += roundUp(len, MiB);
    return at;
  }

  private async writeInBlock(blk: number, inBlk: number, data: Uint8Array): Promise<void> {
    const idx = this.batIndex(blk);
    const st = this.batStates[idx]!;
    const ss = this.logicalSectorSize;
    if (st === FULLY_PRESENT) {
      await this.file.write(data, this.blockOffset(blk) + inBlk);
      return;
    }
    if (!this.parent || st === PAYLOAD_ZERO) {
      // A new block reads as zeros where nothing is written (the file's hole).
      const at = this.allocate(this.blockSize);
      await this.file.write(data, at + inBlk);
      if (inBlk + data.length < this.blockSize) await this.file.write(new Uint8Array(1), at + this.blockSize - 1);
      await this.setBat(idx, FULLY_PRESENT, at);
      return;
    }
    // Differencing: whole logical sectors, present bits in the chunk's sector bitmap.
    let s = inBlk;
    let buf = data;
    const s0 = Math.floor(inBlk / ss) * ss;
    const s1 = roundUp(inBlk + data.length, ss);
    if (s0 !== inBlk || s1 !== inBlk + data.length) {
      buf = new Uint8Array(s1 - s0);
      await this.read(buf, blk * this.blockSize + s0);
      buf.set(data, inBlk - s0);
      s = s0;
    }
    if (st !== PARTIALLY_PRESENT) {
      const at = this.allocate(this.blockSize);
      await this.file.write(new Uint8Array(1), at + this.blockSize - 1);
      await this.setBat(idx, PARTIALLY_PRESENT, at);
    }
    const chunk = Math.floor(blk / this.chunkRatio);
    const bidx = chunk * (this.chunkRatio + 1) + this.chunkRatio;
    if (this.batStates[bidx] !== FULLY_PRESENT) {
      const at = this.allocate(MiB);
      await this.file.write(new Uint8Array(1), at + MiB - 1);
      await this.setBat(bidx, FULLY_PRESENT, at);
    }
    await this.file.write(buf, this.blockOffset(blk) + s);
    const bm = (await this.blockBitmap(blk))!;
    for (let i = s / ss; i < (s + buf.length) / ss; i++) bm[i >> 3] = bm[i >> 3]! | (1 << (i & 7));
    const bytes = this.blockSize / ss / 8;
    await this.file.write(bm, this.batOffsets[bidx]! * MiB + (blk % this.chunkRatio) * bytes);
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    yield* coalesceExtents(this.blockExtents(start, end));
  }

  /** Block by block, unmerged: BAT states, sector bitmaps and the parent. */
  private async *blockExtents(start: number, end: number): AsyncGenerator<Extent> {
    for (let pos = start; pos < end; ) {
      const blk = Math.floor(pos / this.blockSize);
      const bend = Math.min(end, (blk + 1) * this.blockSize);
      const st = this.batStates[this.batIndex(blk)]!;
      if (this.parent && st !== FULLY_PRESENT && st !== PAYLOAD_ZERO) {
        const runs = st === PARTIALLY_PRESENT
          ? this.bitRuns(await this.blockBitmap(blk), pos - blk * this.blockSize, bend - blk * this.blockSize).map(([a, b, p]) => [a + blk * this.blockSize, b + blk * this.blockSize, p] as const)
          : [[pos, bend, false] as const];
        for (const [a, b, present] of runs) {
          if (present) yield { offset: a, length: b - a, kind: 'data' };
          else yield* this.parent.extents(a, b - a);
        }
      } else {
        const kind = st === FULLY_PRESENT || st === PARTIALLY_PRESENT ? 'data' : st === PAYLOAD_ZERO ? 'zero' : 'unallocated';
        yield { offset: pos, length: bend - pos, kind };
      }
      pos = bend;
    }
  }

  inspect = (): Promise<Inspection> => inspectVhdx(this);
  info = (): Promise<Record<string, unknown>> => vhdxInfo(this);
  protected checkOwn = (opts: { repair?: boolean }): Promise<CheckReport> => checkVhdx(this, opts);
}
