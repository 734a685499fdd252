/**
 * VHD (Microsoft Virtual Hard Disk Image Format Specification v1.0): fixed, dynamic and
 * differencing disks. All fields big-endian.
 */
import {
  ByteWriter, CorruptImageError, DeviceRangeError, Parser, TruncatedImageError, UnsupportedFeatureError,
  UsageError, ascii, blockPieces, checkRange, coalesceExtents, pumpDataRuns, extentWindow, guidToBytes, guidToString, randomGuid, u64,
  type BlockDevice, type CheckReport, type CreateOptions, type Extent, type FormatDriver, type Image,
  type ImageSink, type Inspection, type OpenOptions, type Problem, type ProbeInput, type Structure,
} from '@diskit/core';
import { baseName, bytesEqual, checkKeys, encodeUtf16, isPow2, parseBool, parseSize, roundUp, utf16, windowsRelative } from './util.js';

export const VHD_FOOTER_SIZE = 512;
export const VHD_HEADER_SIZE = 1024;
const UNALLOCATED = 0xffffffff;
/** Seconds between 1970-01-01 and 2000-01-01 (VHD timestamps count from 2000). */
const VHD_EPOCH = 946684800;
/** qemu's limits (block/vpc.c). */
export const VHD_MAX_GEOMETRY = 65535 * 16 * 255;
export const VHD_MAX_SECTORS = 0xff000000;

export type VhdDiskType = 'fixed' | 'dynamic' | 'differencing';
const DISK_TYPES: Record<number, VhdDiskType> = { 2: 'fixed', 3: 'dynamic', 4: 'differencing' };

export interface VhdFooter {
  cookie: string;
  features: number;
  version: number;
  dataOffset: bigint;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: string;
  originalSize: number;
  currentSize: number;
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
  diskType: number;
  checksum: number;
  uniqueId: string;
  savedState: number;
}

const footerParser = new Parser()
  .endianness('big')
  .string('cookie', { length: 8, encoding: 'latin1' })
  .uint32('features')
  .uint32('version')
  .uint64('dataOffset')
  .uint32('timestamp')
  .string('creatorApp', { length: 4, encoding: 'latin1' })
  .uint32('creatorVersion')
  .string('creatorHostOs', { length: 4, encoding: 'latin1' })
  .uint64('originalSize')
  .uint64('currentSize')
  .uint16('cylinders')
  .uint8('heads')
  .uint8('sectorsPerTrack')
  .uint32('diskType')
  .uint32('checksum')
  .buffer('uniqueId', { length: 16 })
  .uint8('savedState');

export function parseVhdFooter(b: Uint8Array, offset = 0): VhdFooter {
  const f = footerParser.parse(b.subarray(0, VHD_FOOTER_SIZE));
  return {
    ...f,
    originalSize: u64(f.originalSize, 'VHD footer', offset + 40),
    currentSize: u64(f.currentSize, 'VHD footer', offset + 48),
    uniqueId: guidToString(f.uniqueId),
  };
}

export function encodeVhdFooter(f: VhdFooter): Uint8Array {
  const w = new ByteWriter(VHD_FOOTER_SIZE);
  w.ascii(0, f.cookie, 8).u32be(8, f.features).u32be(12, f.version).u64be(16, f.dataOffset).u32be(24, f.timestamp)
    .ascii(28, f.creatorApp, 4).u32be(32, f.creatorVersion).ascii(36, f.creatorHostOs, 4)
    .u64be(40, f.originalSize).u64be(48, f.currentSize).u16be(56, f.cylinders).u8(58, f.heads)
    .u8(59, f.sectorsPerTrack).u32be(60, f.diskType).u32be(64, f.checksum).bytesAt(68, guidToBytes(f.uniqueId))
    .u8(84, f.savedState);
  return w.bytes;
}

/** One's complement of the byte sum, skipping the 4-byte checksum field at `at`. */
export function vhdChecksum(b: Uint8Array, at: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) sum += b[i]!;
  return ~sum >>> 0;
}

function withChecksum(b: Uint8Array, at: number): Uint8Array {
  new ByteWriter(b).u32be(at, vhdChecksum(b, at));
  return b;
}

export interface VhdParentLocator {
  platformCode: string;
  platformDataSpace: number;
  platformDataLength: number;
  platformDataOffset: number;
}

export interface VhdDynamicHeader {
  cookie: string;
  dataOffset: bigint;
  tableOffset: number;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksum: number;
  parentUniqueId: string;
  parentTimestamp: number;
  parentUnicodeName: string;
  parentLocators: VhdParentLocator[];
}

const locatorParser = new Parser()
  .endianness('big')
  .string('platformCode', { length: 4, encoding: 'latin1' })
  .uint32('platformDataSpace')
  .uint32('platformDataLength')
  .skip(4)
  .uint64('platformDataOffset');

const dynHeaderParser = new Parser()
  .endianness('big')
  .string('cookie', { length: 8, encoding: 'latin1' })
  .uint64('dataOffset')
  .uint64('tableOffset')
  .uint32('headerVersion')
  .uint32('maxTableEntries')
  .uint32('blockSize')
  .uint32('checksum')
  .buffer('parentUniqueId', { length: 16 })
  .uint32('parentTimestamp')
  .skip(4)
  .buffer('parentUnicodeName', { length: 512 })
  .array('parentLocators', { type: locatorParser, length: 8 });

export function parseVhdDynamicHeader(b: Uint8Array, offset = 0): VhdDynamicHeader {
  const h = dynHeaderParser.parse(b.subarray(0, VHD_HEADER_SIZE));
  return {
    ...h,
    tableOffset: u64(h.tableOffset, 'VHD dynamic header', offset + 16),
    parentUniqueId: guidToString(h.parentUniqueId),
    parentUnicodeName: utf16(h.parentUnicodeName, false),
    parentLocators: (h.parentLocators as Array<Record<string, unknown>>).map((l, i) => ({
      platformCode: l.platformCode as string,
      platformDataSpace: l.platformDataSpace as number,
      platformDataLength: l.platformDataLength as number,
      platformDataOffset: u64(l.platformDataOffset as bigint, 'VHD parent locator', offset + 576 + i * 24 + 16),
    })),
  };
}

export function encodeVhdDynamicHeader(h: VhdDynamicHeader): Uint8Array {
  const w = new ByteWriter(VHD_HEADER_SIZE);
  w.ascii(0, h.cookie, 8).u64be(8, h.dataOffset).u64be(16, h.tableOffset).u32be(24, h.headerVersion)
    .u32be(28, h.maxTableEntries).u32be(32, h.blockSize).u32be(36, h.checksum)
    .bytesAt(40, guidToBytes(h.parentUniqueId)).u32be(56, h.parentTimestamp)
    .bytesAt(64, encodeUtf16(h.parentUnicodeName, false).subarray(0, 512));
  h.parentLocators.forEach((l, i) => {
    const o = 576 + i * 24;
    w.ascii(o, l.platformCode, 4).u32be(o + 4, l.platformDataSpace).u32be(o + 8, l.platformDataLength).u64be(o + 16, l.platformDataOffset);
  });
  return w.bytes;
}

/** qemu's calculate_geometry (block/vpc.c), from the VHD specification's appendix. */
export function vhdGeometry(totalSectors: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  totalSectors = Math.min(totalSectors, VHD_MAX_GEOMETRY);
  let spt: number, heads: number, cth: number;
  if (totalSectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(totalSectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(totalSectors / spt);
    heads = Math.max(4, Math.ceil(cth / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

/** The disk size as qemu computes it: CHS for 'vpc '/'qemu' unless the geometry is the maximum. */
export function vhdVirtualSize(f: VhdFooter): { size: number; source: 'chs' | 'currentSize' } {
  const chsSectors = f.cylinders * f.heads * f.sectorsPerTrack;
  const useChs = f.creatorApp === 'vpc ' || f.creatorApp === 'qemu';
  if (!useChs || chsSectors === VHD_MAX_GEOMETRY || !f.heads || !f.sectorsPerTrack) {
    return { size: Math.floor(f.currentSize / 512) * 512, source: 'currentSize' };
  }
  return { size: chsSectors * 512, source: 'chs' };
}

function footerValid(b: Uint8Array): boolean {
  return ascii(b, 0, 8) === 'conectix';
}

export function probeVhd(input: ProbeInput): number {
  if (input.tail.length >= 512 && ascii(input.tail, input.tail.length - 512, 8) === 'conectix') return 100;
  // A footer of 511 bytes (pre-2004 Virtual PC) or only the copy at the start.
  if (input.tail.length >= 511 && ascii(input.tail, input.tail.length - 511, 8) === 'conectix') return 95;
  if (input.head.length >= 512 && ascii(input.head, 0, 8) === 'conectix') return 90;
  return 0;
}

interface ChainContext {
  /** Unique ids of the disks already open in this chain, child first. */
  ids: string[];
}

const PLATFORM_ORDER = ['W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k'];

/** A VHD image opened for reading (and writing, when the file is writable). */
export class VhdImage implements Image {
  readonly format = 'vhd';
  readonly variant: VhdDiskType;
  readonly size: number;
  readonly sizeSource: 'chs' | 'currentSize';
  readonly blockSize: number;
  readonly bitmapSize: number;
  /** Where the footer sits (end - 512), and where the next allocated block goes. */
  private footerOffset: number;
  private bitmaps = new Map<number, Uint8Array>();
  readonly openProblems: Problem[];
  parent?: VhdImage;
  parentName?: string;
  private parentFile?: BlockDevice;

  private constructor(
    readonly file: BlockDevice,
    readonly footer: VhdFooter,
    public footerBytes: Uint8Array,
    footerOffset: number,
    readonly header: VhdDynamicHeader | undefined,
    readonly bat: Uint32Array | undefined,
    problems: Problem[],
    private readonly writable: boolean,
  ) {
    this.variant = DISK_TYPES[footer.diskType]!;
    const vs = vhdVirtualSize(footer);
    this.size = vs.size;
    this.sizeSource = vs.source;
    this.blockSize = header?.blockSize ?? 0;
    this.bitmapSize = header ? roundUp(Math.ceil(header.blockSize / 512 / 8), 512) : 0;
    this.footerOffset = footerOffset;
    this.openProblems = problems;
  }

  get readOnly(): boolean {
    return !this.writable || this.file.readOnly;
  }

  static async open(file: BlockDevice, opts: OpenOptions = {}, chain: ChainContext = { ids: [] }): Promise<VhdImage> {
    const problems: Problem[] = [];
    if (file.size < VHD_FOOTER_SIZE) throw new TruncatedImageError('VHD footer', 0, VHD_FOOTER_SIZE, file.size);
    const tail = new Uint8Array(VHD_FOOTER_SIZE);
    const tailOff = file.size - VHD_FOOTER_SIZE;
    await file.read(tail, tailOff);
    const head = new Uint8Array(VHD_FOOTER_SIZE);
    await file.read(head, 0);

    // Candidates: the footer at the end (or 511-byte footer), then the copy at offset 0.
    let footerBytes: Uint8Array | undefined;
    let footerOffset = tailOff;
    const tailOk = footerValid(tail);
    const tailSumOk = tailOk && vhdChecksum(tail, 64) === new DataView(tail.buffer, tail.byteOffset).getUint32(64);
    const headOk = footerValid(head) && vhdChecksum(head, 64) === new DataView(head.buffer, head.byteOffset).getUint32(64);
    if (tailSumOk) footerBytes = tail;
    else if (headOk && tailOff > 0) {
      footerBytes = head;
      problems.push({
        severity: 'error', structure: 'VHD footer', offset: tailOff,
        message: tailOk ? 'footer checksum mismatch; using the copy at offset 0' : 'no footer at the end of the file; using the copy at offset 0',
      });
      // A dynamic disk with a damaged tail footer: the footer's place is after the last block.
      if (!tailOk) footerOffset = file.size;
    } else if (tailOk) {
      footerBytes = tail;
      problems.push({ severity: 'error', structure: 'VHD footer', offset: tailOff, message: 'footer checksum mismatch (no valid copy at offset 0)' });
    } else {
      const odd = new Uint8Array(VHD_FOOTER_SIZE);
      if (file.size >= 511) {
        odd.set(tail.subarray(1), 0);
        if (footerValid(odd)) {
          footerBytes = odd;
          footerOffset = file.size - 511;
        }
      }
      if (!footerBytes && footerValid(head)) {
        footerBytes = head;
        footerOffset = file.size;
        problems.push({ severity: 'error', structure: 'VHD footer', offset: 0, message: 'footer copy at offset 0 has a bad checksum and there is no footer at the end' });
      }
      if (!footerBytes) throw new CorruptImageError('VHD footer', tailOff, "cookie 'conectix'", JSON.stringify(ascii(tail, 0, 8)));
    }
    const footer = parseVhdFooter(footerBytes, footerOffset);
    if (!DISK_TYPES[footer.diskType]) throw new CorruptImageError('VHD footer', footerOffset + 60, 'disk type 2, 3 or 4', String(footer.diskType));
    if (chain.ids.includes(footer.uniqueId)) {
      throw new CorruptImageError('VHD parent chain', footerOffset + 68, 'an acyclic chain of parents', `${footer.uniqueId} appears twice`);
    }
    if (chain.ids.length > 64) throw new CorruptImageError('VHD parent chain', 0, 'at most 64 levels', `${chain.ids.length}`);

    if (footer.diskType === 2) {
      const vs = vhdVirtualSize(footer);
      if (vs.size > footerOffset) throw new TruncatedImageError('VHD fixed disk data', 0, vs.size, footerOffset);
      return new VhdImage(file, footer, footerBytes, footerOffset, undefined, undefined, problems, !!opts.writable);
    }

    // Dynamic header.
    const hdrOff = u64(footer.dataOffset, 'VHD footer', footerOffset + 16);
    if (hdrOff + VHD_HEADER_SIZE > file.size) throw new TruncatedImageError('VHD dynamic header', hdrOff, VHD_HEADER_SIZE, file.size);
    const hb = new Uint8Array(VHD_HEADER_SIZE);
    await file.read(hb, hdrOff);
    if (ascii(hb, 0, 8) !== 'cxsparse') throw new CorruptImageError('VHD dynamic header', hdrOff, "cookie 'cxsparse'", JSON.stringify(ascii(hb, 0, 8)));
    const header = parseVhdDynamicHeader(hb, hdrOff);
    const sum = vhdChecksum(hb, 36);
    if (sum !== header.checksum) {
      throw new CorruptImageError('VHD dynamic header', hdrOff + 36, `checksum 0x${sum.toString(16)}`, `0x${header.checksum.toString(16)}`);
    }
    if (!isPow2(header.blockSize) || header.blockSize < 512 || header.blockSize > 1 << 30) {
      throw new CorruptImageError('VHD dynamic header', hdrOff + 32, 'a power-of-two block size from 512 bytes to 1 GiB', String(header.blockSize));
    }
    const vs = vhdVirtualSize(footer);
    if (header.maxTableEntries * header.blockSize < vs.size) {
      throw new CorruptImageError('VHD dynamic header', hdrOff + 28, `at least ${Math.ceil(vs.size / header.blockSize)} BAT entries`, String(header.maxTableEntries));
    }
    const batBytes = header.maxTableEntries * 4;
    if (header.tableOffset + batBytes > file.size) throw new TruncatedImageError('VHD BAT', header.tableOffset, batBytes, file.size);
    const raw = new Uint8Array(batBytes);
    await file.read(raw, header.tableOffset);
    const bat = new Uint32Array(header.maxTableEntries);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < bat.length; i++) bat[i] = dv.getUint32(i * 4);

    const img = new VhdImage(file, footer, footerBytes, footerOffset, header, bat, problems, !!opts.writable);
    // Without a footer at the end (damaged, or the file cut short) the footer's place is after the
    // last block: the last 512 bytes when they hold no block, else the end of the last block.
    if (footerOffset === file.size) {
      let end = header.tableOffset + roundUp(batBytes, 512);
      for (let i = 0; i < bat.length; i++) {
        if (bat[i] !== UNALLOCATED) end = Math.max(end, bat[i]! * 512 + img.bitmapSize + img.blockSize);
      }
      img.footerOffset = Math.max(end, file.size - VHD_FOOTER_SIZE);
    }

    if (footer.diskType === 4) await img.openParent(opts, { ids: [...chain.ids, footer.uniqueId] });
    return img;
  }

  /** Candidate names for the parent, best first. */
  async parentCandidates(): Promise<{ source: string; name: string }[]> {
    const h = this.header!;
    const out: { source: string; name: string }[] = [];
    const locs = h.parentLocators.filter((l) => l.platformCode !== '\0\0\0\0' && l.platformDataLength > 0);
    locs.sort((a, b) => PLATFORM_ORDER.indexOf(a.platformCode) - PLATFORM_ORDER.indexOf(b.platformCode));
    for (const l of locs) {
      if (l.platformDataLength > 65536 || l.platformDataOffset + l.platformDataLength > this.file.size) {
        throw new CorruptImageError('VHD parent locator', l.platformDataOffset, `locator data within the file (${this.file.size} bytes)`, `${l.platformDataLength} bytes`);
      }
      const b = new Uint8Array(l.platformDataLength);
      await this.file.read(b, l.platformDataOffset);
      let name: string;
      switch (l.platformCode) {
        case 'W2ku': case 'W2ru': name = utf16(b, true); break;
        case 'Wi2k': case 'Wi2r': name = ascii(b); break;
        case 'MacX': name = decodeURIComponent(new TextDecoder().decode(b).replace(/\0+$/, '').replace(/^file:\/\/(localhost)?/, '')); break;
        default: continue; // 'Mac ' (alias records) cannot be resolved outside macOS
      }
      if (!name) continue;
      if (l.platformCode === 'W2ru' || l.platformCode === 'Wi2r') out.push({ source: l.platformCode, name: windowsRelative(name) });
      else if (/^[A-Za-z]:\\|^\\\\/.test(name)) out.push({ source: `${l.platformCode} (basename)`, name: baseName(name) });
      else out.push({ source: l.platformCode, name: l.platformCode === 'MacX' ? name : name.replace(/\\/g, '/') });
    }
    if (h.parentUnicodeName) out.push({ source: 'parent name', name: baseName(h.parentUnicodeName) });
    return out;
  }

  private async openParent(opts: OpenOptions, chain: ChainContext): Promise<void> {
    const h = this.header!;
    if (!opts.openRelative) throw new UnsupportedFeatureError(`differencing VHD needs its parent '${h.parentUnicodeName}', and files cannot be opened here`);
    const tried: string[] = [];
    let mismatch: unknown;
    for (const c of await this.parentCandidates()) {
      if (tried.includes(c.name)) continue;
      tried.push(c.name);
      let pf: BlockDevice;
      try {
        pf = await opts.openRelative(c.name);
      } catch {
        continue;
      }
      let parent: VhdImage | undefined;
      try {
        parent = await VhdImage.open(pf, { name: c.name, openRelative: opts.openRelative }, chain);
      } catch (e) {
        await pf.close().catch(() => {});
        throw e;
      }
      if (parent.footer.uniqueId !== h.parentUniqueId) {
        // Another disk under that name: try the other locators before giving up.
        mismatch ??= new CorruptImageError('VHD dynamic header', Number(this.footer.dataOffset) + 40, `parent unique id ${h.parentUniqueId}`, `${parent.footer.uniqueId} in ${c.name}`);
        await parent.close();
        await pf.close().catch(() => {});
        continue;
      }
      if (parent.size < this.size) {
        // A parent smaller than the child reads as zeros past its end.
        this.openProblems.push({ severity: 'warning', structure: 'VHD parent', message: `parent ${c.name} is smaller (${parent.size}) than the child (${this.size})` });
      }
      this.parent = parent;
      this.parentFile = pf;
      this.parentName = c.name;
      return;
    }
    if (mismatch) throw mismatch;
    throw new CorruptImageError('VHD parent locator', Number(this.footer.dataOffset) + 576, `a readable parent (${h.parentUnicodeName})`, `none of ${JSON.stringify(tried)} could be opened`);
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
      if (this.bitmaps.size > 4096) this.bitmaps.clear();
      this.bitmaps.set(blk, b);
    }
    return b;
  }

  /** Runs of sectors [s, e) in a block with the same bitmap bit, covering [from, to) bytes. */
  private static bitRuns(bm: Uint8Array, from: number, to: number, fn: (start: number, end: number, set: boolean) => void): void {
    let pos = from;
    while (pos < to) {
      let s = Math.floor(pos / 512);
      const bit = (bm[s >> 3]! >> (7 - (s & 7))) & 1;
      let next = (s + 1) * 512;
      while (next < to) {
        s++;
        // Whole bytes at a time when aligned.
        if ((s & 7) === 0 && bm[s >> 3] === (bit ? 0xff : 0) && next + 4096 <= to) {
          next += 4096;
          s += 7;
          continue;
        }
        if (((bm[s >> 3]! >> (7 - (s & 7))) & 1) !== bit) break;
        next += 512;
      }
      const end = Math.min(next, to);
      fn(pos, end, bit === 1);
      pos = end;
    }
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
    // The pieces (one per block, more with bitmaps) are read concurrently, into disjoint parts of `into`.
    const ops: Promise<void>[] = [];
    try {
      for (const { block: blk, inBlock: inBlk, at, length: n } of blockPieces(offset, into.length, bs)) {
        const voff = offset + at;
        const piece = into.subarray(at, at + n);
        if (this.bat![blk] === UNALLOCATED) {
          if (this.parent) ops.push(this.readParent(piece, voff));
          else piece.fill(0);
        } else {
          const base = this.blockDataOffset(blk);
          if (!this.parent) ops.push(this.file.read(piece, base + inBlk));
          else {
            const bm = await this.bitmap(blk);
            VhdImage.bitRuns(bm, inBlk, inBlk + n, (s, e, set) => {
              const sub = piece.subarray(s - inBlk, e - inBlk);
              ops.push(set ? this.file.read(sub, base + s) : this.readParent(sub, blk * bs + s));
            });
          }
        }
      }
    } catch (e) {
      for (const op of ops) op.catch(() => {});
      throw e;
    }
    await Promise.all(ops);
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
        VhdImage.bitRuns(bm, pos - blk * bs, bend - blk * bs, (s, e, set) => runs.push([s + blk * bs, e + blk * bs, set]));
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

  async flush(): Promise<void> {
    if (!this.readOnly) await this.file.flush();
  }

  async close(): Promise<void> {
    if (this.parent) await this.parent.close();
    if (this.parentFile) await this.parentFile.close().catch(() => {});
  }

  // ---- inspection ---------------------------------------------------------------------------

  private batSummary(): Record<string, unknown> {
    if (!this.bat) return {};
    let allocated = 0;
    for (const e of this.bat) if (e !== UNALLOCATED) allocated++;
    return { entries: this.bat.length, allocated, unallocated: this.bat.length - allocated };
  }

  async inspect(): Promise<Inspection> {
    const structures: Structure[] = [];
    const f = this.footer;
    const footerFields = {
      ...f, dataOffset: f.dataOffset === 0xffffffffffffffffn ? 'none (fixed)' : Number(f.dataOffset),
      diskType: `${f.diskType} (${this.variant})`, checksumValid: vhdChecksum(this.footerBytes, 64) === f.checksum,
      timestamp: new Date((f.timestamp + VHD_EPOCH) * 1000).toISOString(), sizeFrom: this.sizeSource,
    };
    structures.push({ name: 'footer', offset: this.footerOffset, size: VHD_FOOTER_SIZE, fields: footerFields });
    if (this.header) {
      structures.unshift({ name: 'footer copy', offset: 0, size: VHD_FOOTER_SIZE, fields: { cookie: ascii(this.footerBytes, 0, 8) } });
      const h = this.header;
      const hdrOff = Number(f.dataOffset);
      structures.splice(1, 0, {
        name: 'dynamic header', offset: hdrOff, size: VHD_HEADER_SIZE,
        fields: { ...h, dataOffset: '0x' + h.dataOffset.toString(16), parentLocators: h.parentLocators.filter((l) => l.platformCode !== '\0\0\0\0').length },
        children: h.parentLocators.map((l, i) => ({ name: `parent locator ${i}`, offset: hdrOff + 576 + i * 24, size: 24, fields: { ...l } }))
          .filter((s) => s.fields.platformCode !== '\0\0\0\0'),
      });
      structures.splice(2, 0, { name: 'BAT', offset: h.tableOffset, size: h.maxTableEntries * 4, fields: this.batSummary() });
    }
    return { format: 'vhd', variant: this.variant, virtualSize: this.size, structures };
  }

  async info(): Promise<Record<string, unknown>> {
    const f = this.footer;
    const out: Record<string, unknown> = {
      creator: { app: f.creatorApp, version: `${f.creatorVersion >>> 16}.${f.creatorVersion & 0xffff}`, hostOs: f.creatorHostOs },
      subformat: this.variant,
      sizeFrom: this.sizeSource,
      currentSize: f.currentSize,
      geometry: { cylinders: f.cylinders, heads: f.heads, sectorsPerTrack: f.sectorsPerTrack },
      uniqueId: f.uniqueId,
    };
    if (this.header) {
      out.blockSize = this.blockSize;
      out.bat = this.batSummary();
    }
    if (this.parent) out.parent = { name: this.parentName, uniqueId: this.header!.parentUniqueId, format: 'vhd', variant: this.parent.variant };
    return out;
  }

  /** Rewrite damaged footers: the one at the end from a good copy (or with its checksum fixed), and the copy at 0. */
  private async repairFooters(): Promise<string[]> {
    const done: string[] = [];
    let fb = this.footerBytes;
    if (vhdChecksum(fb, 64) !== this.footer.checksum) {
      fb = footerBytesOf(this.footer);
      done.push('recomputed the footer checksum');
    }
    const tail = new Uint8Array(512);
    const tailOff = this.file.size - 512;
    if (tailOff >= 0) await this.file.read(tail, tailOff);
    if (this.footerOffset !== tailOff || !bytesEqual(tail, fb)) {
      await this.file.write(fb, this.footerOffset);
      done.push(`rewrote the footer at ${this.footerOffset}`);
    }
    if (this.header) {
      const head = new Uint8Array(512);
      await this.file.read(head, 0);
      if (!bytesEqual(head, fb)) {
        await this.file.write(fb, 0);
        done.push('rewrote the footer copy at offset 0');
      }
    }
    this.footerBytes = fb;
    if (done.length) {
      for (let i = this.openProblems.length - 1; i >= 0; i--) if (this.openProblems[i]!.structure === 'VHD footer') this.openProblems.splice(i, 1);
      await this.file.flush();
    }
    return done;
  }

  async check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    const repaired = opts.repair && !this.readOnly ? await this.repairFooters() : undefined;
    const problems: Problem[] = [...this.openProblems];
    const f = this.footer;
    if (this.footerBytes.length === 512 && vhdChecksum(this.footerBytes, 64) !== f.checksum && !problems.some((p) => p.structure === 'VHD footer')) {
      problems.push({ severity: 'error', structure: 'VHD footer', offset: this.footerOffset, message: 'footer checksum mismatch' });
    }
    if (this.header && this.bat) {
      // The copy at offset 0 must match the footer.
      const head = new Uint8Array(512);
      await this.file.read(head, 0);
      if (!footerValid(head) || vhdChecksum(head, 64) !== new DataView(head.buffer).getUint32(64)) {
        problems.push({ severity: 'error', structure: 'VHD footer copy', offset: 0, message: 'footer copy at offset 0 is missing or has a bad checksum' });
      }
      const h = this.header;
      const metaEnd = h.tableOffset + roundUp(h.maxTableEntries * 4, 512);
      const hdrOff = Number(f.dataOffset);
      const meta: [number, number, string][] = [[0, VHD_FOOTER_SIZE, 'footer copy'], [hdrOff, hdrOff + VHD_HEADER_SIZE, 'dynamic header'], [h.tableOffset, metaEnd, 'BAT']];
      for (const l of h.parentLocators) {
        if (l.platformCode !== '\0\0\0\0' && l.platformDataLength) meta.push([l.platformDataOffset, l.platformDataOffset + l.platformDataLength, `${l.platformCode} parent locator`]);
      }
      const spans: [number, number, number][] = [];
      const span = this.bitmapSize + this.blockSize;
      const needed = Math.ceil(this.size / this.blockSize);
      for (let i = 0; i < this.bat.length; i++) {
        const e = this.bat[i]!;
        if (e === UNALLOCATED) continue;
        const off = e * 512;
        if (i >= needed) problems.push({ severity: 'warning', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `entry ${i} lies past the disk's end but is allocated` });
        const need = this.bitmapSize + Math.max(0, Math.min(this.blockSize, this.size - i * this.blockSize));
        const overlapped = meta.find(([s, e]) => off < e && off + span > s);
        if (off + need > this.file.size - (this.footerOffset < this.file.size ? 512 : 0)) {
          problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `block ${i} at ${off} extends past the end of the file (${this.file.size})` });
        } else if (overlapped) {
          problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `block ${i} at ${off} overlaps the ${overlapped[2]}` });
        }
        spans.push([off, off + span, i]);
      }
      spans.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) {
        if (spans[i]![0] < spans[i - 1]![1]) {
          problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + spans[i]![2] * 4, message: `block ${spans[i]![2]} overlaps block ${spans[i - 1]![2]}` });
        }
      }
      // Orphaned space: whole blocks' worth of bytes between the metadata and the footer that no BAT entry owns.
      let cursor = metaEnd;
      for (const [s, e] of spans) {
        if (s - cursor >= span) problems.push({ severity: 'warning', structure: 'VHD data', offset: cursor, message: `${s - cursor} bytes at ${cursor} belong to no block (orphaned)` });
        cursor = Math.max(cursor, e);
      }
      const tailEnd = Math.min(this.footerOffset, this.file.size);
      if (tailEnd - cursor >= span) problems.push({ severity: 'warning', structure: 'VHD data', offset: cursor, message: `${tailEnd - cursor} bytes at ${cursor} belong to no block (orphaned)` });
      for (const l of h.parentLocators) {
        if (l.platformCode === '\0\0\0\0' || !l.platformDataLength) continue;
        if (l.platformDataOffset + l.platformDataLength > this.file.size) {
          problems.push({ severity: 'error', structure: 'VHD parent locator', offset: l.platformDataOffset, message: `${l.platformCode} locator data lies past the end of the file` });
        }
      }
    }
    if (this.parent) {
      const pr = await this.parent.check();
      for (const p of pr.problems) problems.push({ ...p, message: `parent ${this.parentName}: ${p.message}` });
    }
    return repaired ? { problems, repaired } : { problems };
  }
}

// ---- creating --------------------------------------------------------------------------------

export interface VhdCreateParams {
  subformat: 'fixed' | 'dynamic';
  blockSize: number;
  /** Disk size in bytes (a multiple of 512). */
  size: number;
  geometry: { cylinders: number; heads: number; sectorsPerTrack: number };
  creatorApp: string;
}

/** Work out the size, geometry and creator for a source of `sourceSize` bytes. */
export function vhdCreateParams(sourceSize: number, options: Record<string, string> = {}): VhdCreateParams {
  checkKeys('vhd', options, ['subformat', 'block_size', 'chs', 'align', 'force_size']);
  const subformat = (options.subformat ?? 'dynamic') as 'fixed' | 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw new UsageError(`vhd: -o subformat must be fixed or dynamic (got '${options.subformat}')`);
  const blockSize = options.block_size ? parseSize('block_size', options.block_size) : 2 << 20;
  if (!isPow2(blockSize) || blockSize < 4096 || blockSize > 256 << 20) throw new UsageError('vhd: -o block_size must be a power of two from 4K to 256M');
  const chs = options.chs ? parseBool('chs', options.chs) : options.force_size ? !parseBool('force_size', options.force_size) : false;
  let size = roundUp(sourceSize, 512);
  if (options.align) {
    const a = parseSize('align', options.align);
    if (!isPow2(a) || a < 512) throw new UsageError('vhd: -o align must be a power of two of at least 512');
    size = roundUp(size, a);
  }
  let geometry = vhdGeometry(size / 512);
  let creatorApp = 'qem2';
  if (chs) {
    // qemu's rounding: grow until the CHS geometry holds the disk, unless that needs the maximum geometry.
    creatorApp = 'qemu';
    if (size / 512 > VHD_MAX_SECTORS) {
      geometry = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 };
    } else {
      const total = Math.min(VHD_MAX_GEOMETRY, size / 512);
      geometry = { cylinders: 0, heads: 0, sectorsPerTrack: 0 };
      for (let i = 0; total > geometry.cylinders * geometry.heads * geometry.sectorsPerTrack; i++) geometry = vhdGeometry(total + i);
    }
    const prod = geometry.cylinders * geometry.heads * geometry.sectorsPerTrack;
    if (prod !== VHD_MAX_GEOMETRY) size = prod * 512;
  }
  if (size / 512 > VHD_MAX_SECTORS) throw new UsageError(`vhd: ${size} bytes is larger than VHD's 2040 GiB limit`);
  return { subformat, blockSize, size, geometry, creatorApp };
}

function makeFooter(p: { size: number; geometry: VhdCreateParams['geometry']; creatorApp: string; diskType: number; dataOffset: bigint; uniqueId?: string }): VhdFooter {
  return {
    cookie: 'conectix', features: 2, version: 0x00010000, dataOffset: p.dataOffset,
    timestamp: Math.max(0, Math.floor(Date.now() / 1000) - VHD_EPOCH) >>> 0,
    creatorApp: p.creatorApp, creatorVersion: 0x00050003, creatorHostOs: 'Wi2k',
    originalSize: p.size, currentSize: p.size, ...p.geometry, diskType: p.diskType, checksum: 0,
    uniqueId: p.uniqueId ?? randomGuid(), savedState: 0,
  };
}

export function footerBytesOf(f: VhdFooter): Uint8Array {
  return withChecksum(encodeVhdFooter({ ...f, checksum: 0 }), 64);
}

function dynamicHeaderFor(tableOffset: number, entries: number, blockSize: number, parent?: Partial<VhdDynamicHeader>): VhdDynamicHeader {
  const empty: VhdParentLocator = { platformCode: '\0\0\0\0', platformDataSpace: 0, platformDataLength: 0, platformDataOffset: 0 };
  const locs = [...(parent?.parentLocators ?? [])];
  while (locs.length < 8) locs.push(empty);
  return {
    cookie: 'cxsparse', dataOffset: 0xffffffffffffffffn, tableOffset, headerVersion: 0x00010000, maxTableEntries: entries,
    blockSize, checksum: 0, parentUniqueId: parent?.parentUniqueId ?? '00000000-0000-0000-0000-000000000000',
    parentTimestamp: parent?.parentTimestamp ?? 0, parentUnicodeName: parent?.parentUnicodeName ?? '', parentLocators: locs,
  };
}

function headerBytesOf(h: VhdDynamicHeader): Uint8Array {
  return withChecksum(encodeVhdDynamicHeader({ ...h, checksum: 0 }), 36);
}

/** Write `source` as a VHD: fixed (data in place, footer at the end) or dynamic (blocks only where data is). */
export async function createVhd(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const p = vhdCreateParams(source.size, opts.options);
  const copyLen = Math.min(source.size, p.size);
  if (p.subformat === 'fixed') {
    const footer = footerBytesOf(makeFooter({ ...p, diskType: 2, dataOffset: 0xffffffffffffffffn }));
    await pumpDataRuns(source, (data, offset) => sink.write(data, offset), { length: copyLen, onProgress: opts.onProgress, ordered: false });
    await sink.write(footer, p.size);
    await sink.truncate(p.size + VHD_FOOTER_SIZE);
    // (no flush: see below)
    return;
  }
  const bs = p.blockSize;
  const entries = Math.ceil(p.size / bs);
  const tableOffset = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
  const batBytes = roundUp(entries * 4, 512);
  const bitmapSize = roundUp(Math.ceil(bs / 512 / 8), 512);
  const footer = footerBytesOf(makeFooter({ ...p, diskType: 3, dataOffset: BigInt(VHD_FOOTER_SIZE) }));
  await sink.write(footer, 0);
  await sink.write(headerBytesOf(dynamicHeaderFor(tableOffset, entries, bs)), VHD_FOOTER_SIZE);
  const bat = new Uint8Array(batBytes).fill(0xff);
  const batView = new DataView(bat.buffer);
  const bitmap = new Uint8Array(bitmapSize).fill(0xff);
  let next = tableOffset + batBytes;
  let curBlk = -1;
  let curBase = 0;
  // Blocks are allocated in device order as data arrives (consume is called in order); writes overlap.
  await pumpDataRuns(source, (data, offset) => {
    const writes: Promise<void>[] = [];
    let pos = 0;
    while (pos < data.length) {
      const voff = offset + pos;
      const blk = Math.floor(voff / bs);
      const n = Math.min((blk + 1) * bs - voff, data.length - pos);
      if (blk !== curBlk) {
        curBlk = blk;
        batView.setUint32(blk * 4, next / 512);
        writes.push(sink.write(bitmap, next));
        curBase = next + bitmapSize - blk * bs;
        next += bitmapSize + bs;
      }
      writes.push(sink.write(data.subarray(pos, pos + n), curBase + voff));
      pos += n;
    }
    return Promise.all(writes).then(() => {});
  }, { length: copyLen, onProgress: opts.onProgress });
  await sink.write(bat, tableOffset);
  await sink.write(footer, next);
  await sink.truncate(next + VHD_FOOTER_SIZE);
  // No flush here: like qemu-img convert (cache=unsafe), syncing is the caller's choice (AtomicOutput.commit({sync})).

}

export interface DifferencingOptions {
  /** Block size of the child (default: the parent's, else 2 MiB). */
  blockSize?: number;
  /** The parent's absolute path, stored in a W2ku locator besides the relative W2ru one. */
  absolutePath?: string;
}

/**
 * Create an empty differencing VHD whose parent is `parent` (an opened VHD image) stored under
 * `parentPath` relative to the child's folder.
 */
export async function createDifferencing(parentPath: string, parent: Image, sink: ImageSink, opts: DifferencingOptions = {}): Promise<void> {
  if (!(parent instanceof VhdImage)) throw new UsageError(`the parent of a differencing VHD must be a VHD image (got ${parent.format})`);
  const bs = opts.blockSize ?? (parent.blockSize || 2 << 20);
  if (!isPow2(bs) || bs < 4096 || bs > 256 << 20) throw new UsageError('vhd: block size must be a power of two from 4K to 256M');
  const pf = parent.footer;
  const size = parent.size;
  const entries = Math.ceil(size / bs);
  // Relative locator (W2ru), then absolute (W2ku) when known; data after the header, 512 bytes each.
  const rel = '.\\' + parentPath.replace(/\//g, '\\').replace(/^\.\\/, '');
  const datas: [string, Uint8Array][] = [['W2ru', encodeUtf16(rel, true)]];
  if (opts.absolutePath) datas.push(['W2ku', encodeUtf16(opts.absolutePath.replace(/\//g, '\\'), true)]);
  let at = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
  const locators: VhdParentLocator[] = [];
  for (const [code, d] of datas) {
    const space = roundUp(Math.max(d.length, 1), 512);
    locators.push({ platformCode: code, platformDataSpace: space, platformDataLength: d.length, platformDataOffset: at });
    await sink.write(d, at);
    at += space;
  }
  const tableOffset = at;
  const batBytes = roundUp(entries * 4, 512);
  const footer = footerBytesOf(makeFooter({
    size, geometry: { cylinders: pf.cylinders, heads: pf.heads, sectorsPerTrack: pf.sectorsPerTrack },
    creatorApp: parent.sizeSource === 'chs' ? pf.creatorApp : 'qem2', diskType: 4, dataOffset: BigInt(VHD_FOOTER_SIZE),
  }));
  const header = dynamicHeaderFor(tableOffset, entries, bs, {
    parentUniqueId: pf.uniqueId, parentTimestamp: pf.timestamp, parentUnicodeName: baseName(parentPath), parentLocators: locators,
  });
  await sink.write(footer, 0);
  await sink.write(headerBytesOf(header), VHD_FOOTER_SIZE);
  await sink.write(new Uint8Array(batBytes).fill(0xff), tableOffset);
  await sink.write(footer, tableOffset + batBytes);
  await sink.truncate(tableOffset + batBytes + VHD_FOOTER_SIZE);
  // No flush here: like qemu-img convert (cache=unsafe), syncing is the caller's choice (AtomicOutput.commit({sync})).

}

export const vhdDriver: FormatDriver = {
  name: 'vhd',
  aliases: ['vpc'],
  description: 'Microsoft Virtual Hard Disk (VHD): fixed, dynamic and differencing',
  probe: probeVhd,
  open: (file, opts) => VhdImage.open(file, opts),
  create: createVhd,
};
