/**
 * VHDX ([MS-VHDX] v1): file identifier, two headers, two region tables, metadata, BAT with
 * payload and sector-bitmap entries, and the metadata log (replayed in memory on read-only opens).
 * All fields little-endian; checksums are CRC32C.
 */
import {
  ByteWriter, CorruptImageError, DeviceRangeError, Parser, ReadOnlyDevice, TruncatedImageError, UnsupportedFeatureError, UsageError,
  ascii, blockPieces, checkRange, crc32c, coalesceExtents, pumpDataRuns, extentWindow, guidToBytes, guidToString, isZeroGuid, randomGuid, u64,
  type BlockDevice, type CheckReport, type CreateOptions, type Extent, type FormatDriver, type Image, type ImageSink,
  type Inspection, type OpenOptions, type Problem, type ProbeInput, type Structure,
} from '@diskit/core';
import { baseName, checkKeys, encodeUtf16, isPow2, parseSize, roundUp, utf16, windowsRelative } from './util.js';

const KiB = 1024;
const MiB = 1024 * 1024;
export const VHDX_HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const VHDX_REGION_OFFSETS = [192 * KiB, 256 * KiB] as const;
const REGION_TABLE_SIZE = 64 * KiB;
const HEADER_SIZE = 4 * KiB;
const LOG_SECTOR = 4096;
const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export const GUIDS = {
  bat: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  metadata: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
  fileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  virtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  virtualDiskId: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  logicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  physicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
  parentLocator: 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C',
} as const;
const METADATA_NAMES: Record<string, string> = Object.fromEntries(Object.entries(GUIDS).map(([k, v]) => [v, k]));

export const PAYLOAD_STATES = ['NOT_PRESENT', 'UNDEFINED', 'ZERO', 'UNMAPPED', '4?', '5?', 'FULLY_PRESENT', 'PARTIALLY_PRESENT'] as const;
const FULLY_PRESENT = 6;
const PARTIALLY_PRESENT = 7;

// ---- structures ------------------------------------------------------------------------------

export interface VhdxHeader {
  signature: string;
  checksum: number;
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  logGuid: string;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

const headerParser = new Parser()
  .endianness('little')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('checksum')
  .uint64('sequenceNumber')
  .buffer('fileWriteGuid', { length: 16 })
  .buffer('dataWriteGuid', { length: 16 })
  .buffer('logGuid', { length: 16 })
  .uint16('logVersion')
  .uint16('version')
  .uint32('logLength')
  .uint64('logOffset');

export function parseVhdxHeader(b: Uint8Array, offset = 0): VhdxHeader {
  const h = headerParser.parse(b.subarray(0, 80));
  return {
    ...h, fileWriteGuid: guidToString(h.fileWriteGuid), dataWriteGuid: guidToString(h.dataWriteGuid),
    logGuid: guidToString(h.logGuid), logOffset: u64(h.logOffset, 'VHDX header', offset + 72),
  };
}

/** A 4 KiB header with its CRC32C filled in. */
export function encodeVhdxHeader(h: VhdxHeader): Uint8Array {
  const w = new ByteWriter(HEADER_SIZE);
  w.ascii(0, 'head', 4).u64le(8, h.sequenceNumber).bytesAt(16, guidToBytes(h.fileWriteGuid))
    .bytesAt(32, guidToBytes(h.dataWriteGuid)).bytesAt(48, guidToBytes(h.logGuid)).u16le(64, h.logVersion)
    .u16le(66, h.version).u32le(68, h.logLength).u64le(72, h.logOffset);
  return withCrc(w.bytes, 4);
}

function withCrc(b: Uint8Array, at: number): Uint8Array {
  b.fill(0, at, at + 4);
  new ByteWriter(b).u32le(at, crc32c(b));
  return b;
}

function crcOk(b: Uint8Array, at: number): boolean {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stored = dv.getUint32(at, true);
  const copy = b.slice();
  copy.fill(0, at, at + 4);
  return crc32c(copy) === stored;
}

export interface VhdxRegion {
  guid: string;
  fileOffset: number;
  length: number;
  required: boolean;
}

const regionHeaderParser = new Parser().endianness('little')
  .string('signature', { length: 4, encoding: 'latin1' }).uint32('checksum').uint32('entryCount').uint32('reserved');
const regionEntryParser = new Parser().endianness('little')
  .buffer('guid', { length: 16 }).uint64('fileOffset').uint32('length').uint32('required');

export function parseRegionTable(b: Uint8Array, offset: number): { signature: string; checksum: number; entries: VhdxRegion[] } {
  const h = regionHeaderParser.parse(b.subarray(0, 16));
  if (h.entryCount > 2047) throw new CorruptImageError('VHDX region table', offset + 8, 'at most 2047 entries', String(h.entryCount));
  const entries: VhdxRegion[] = [];
  for (let i = 0; i < h.entryCount; i++) {
    const e = regionEntryParser.parse(b.subarray(16 + i * 32, 48 + i * 32));
    entries.push({ guid: guidToString(e.guid), fileOffset: u64(e.fileOffset, 'VHDX region table', offset + 32 + i * 32), length: e.length, required: (e.required & 1) === 1 });
  }
  return { signature: h.signature, checksum: h.checksum, entries };
}

export function encodeRegionTable(entries: VhdxRegion[]): Uint8Array {
  const w = new ByteWriter(REGION_TABLE_SIZE);
  w.ascii(0, 'regi', 4).u32le(8, entries.length);
  entries.forEach((e, i) => {
    const o = 16 + i * 32;
    w.bytesAt(o, guidToBytes(e.guid)).u64le(o + 16, e.fileOffset).u32le(o + 24, e.length).u32le(o + 28, e.required ? 1 : 0);
  });
  return withCrc(w.bytes, 4);
}

export interface VhdxMetadataEntry {
  itemId: string;
  offset: number;
  length: number;
  isUser: boolean;
  isVirtualDisk: boolean;
  isRequired: boolean;
}

const metaHeaderParser = new Parser().endianness('little')
  .string('signature', { length: 8, encoding: 'latin1' }).uint16('reserved').uint16('entryCount');
const metaEntryParser = new Parser().endianness('little')
  .buffer('itemId', { length: 16 }).uint32('offset').uint32('length').uint32('flags');

export interface VhdxLogEntryHeader {
  signature: string;
  checksum: number;
  entryLength: number;
  tail: number;
  sequenceNumber: bigint;
  descriptorCount: number;
  logGuid: string;
  flushedFileOffset: number;
  lastFileOffset: number;
}

const logHeaderParser = new Parser().endianness('little')
  .string('signature', { length: 4, encoding: 'latin1' }).uint32('checksum').uint32('entryLength').uint32('tail')
  .uint64('sequenceNumber').uint32('descriptorCount').uint32('reserved').buffer('logGuid', { length: 16 })
  .uint64('flushedFileOffset').uint64('lastFileOffset');
const descParser = new Parser().endianness('little')
  .string('signature', { length: 4, encoding: 'latin1' }).buffer('trailing', { length: 4 }).buffer('leading', { length: 8 })
  .uint64('fileOffset').uint64('sequenceNumber');

function parseLogHeader(b: Uint8Array, offset: number): VhdxLogEntryHeader {
  const h = logHeaderParser.parse(b.subarray(0, 64));
  return {
    ...h, logGuid: guidToString(h.logGuid),
    flushedFileOffset: u64(h.flushedFileOffset, 'VHDX log entry', offset + 48),
    lastFileOffset: u64(h.lastFileOffset, 'VHDX log entry', offset + 56),
  };
}

/** Locator type of a VHDX parent. */
export const VHDX_PARENT_TYPE = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

/** BAT entries: payload blocks with a sector bitmap entry after every chunk (all of them when differencing). */
export function batEntries(payload: number, chunkRatio: number, differencing: boolean): number {
  if (payload === 0) return 0;
  if (differencing) return Math.ceil(payload / chunkRatio) * (chunkRatio + 1);
  return payload + Math.floor((payload - 1) / chunkRatio);
}

export function parseParentLocator(b: Uint8Array, offset: number): { type: string; entries: Record<string, string> } {
  if (b.length < 20) throw new CorruptImageError('VHDX parent locator', offset, 'at least 20 bytes', String(b.length));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint16(18, true);
  if (20 + count * 12 > b.length) throw new CorruptImageError('VHDX parent locator', offset, `room for ${count} entries`, `${b.length} bytes`);
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const o = 20 + i * 12;
    const ko = dv.getUint32(o, true), vo = dv.getUint32(o + 4, true), kl = dv.getUint16(o + 8, true), vl = dv.getUint16(o + 10, true);
    if (ko + kl > b.length || vo + vl > b.length) throw new CorruptImageError('VHDX parent locator', offset + o, 'keys and values inside the item', `key ${ko}+${kl}, value ${vo}+${vl}`);
    entries[utf16(b.subarray(ko, ko + kl), true)] = utf16(b.subarray(vo, vo + vl), true);
  }
  return { type: guidToString(b, 0), entries };
}

export function encodeParentLocator(entries: Record<string, string>): Uint8Array {
  const keys = Object.keys(entries);
  const parts: Uint8Array[] = [];
  let at = 20 + keys.length * 12;
  const table: number[][] = [];
  for (const k of keys) {
    const kb = encodeUtf16(k, true), vb = encodeUtf16(entries[k]!, true);
    table.push([at, at + kb.length, kb.length, vb.length]);
    parts.push(kb, vb);
    at += kb.length + vb.length;
  }
  const w = new ByteWriter(at);
  w.bytesAt(0, guidToBytes(VHDX_PARENT_TYPE)).u16le(18, keys.length);
  table.forEach(([ko, vo, kl, vl], i) => w.u32le(20 + i * 12, ko!).u32le(24 + i * 12, vo!).u16le(28 + i * 12, kl!).u16le(30 + i * 12, vl!));
  let p = 20 + keys.length * 12;
  for (const part of parts) {
    w.bytesAt(p, part);
    p += part.length;
  }
  return w.bytes;
}

export function probeVhdx(input: ProbeInput): number {
  return input.head.length >= 8 && ascii(input.head, 0, 8) === 'vhdxfile' ? 100 : 0;
}

// ---- the log -----------------------------------------------------------------------------------

/** One valid log entry: where it sits and what it writes. */
export interface LogEntry {
  logOffset: number;
  header: VhdxLogEntryHeader;
  /** Writes in order: 4 KiB data sectors, or zero runs. */
  ops: { fileOffset: number; data?: Uint8Array; zeroLength?: number }[];
}

const descSectors = (count: number) => Math.ceil((count + 2) / 128);

/** Read the circular log and return the active sequence (empty when none is valid). */
export async function readVhdxLog(file: BlockDevice, h: VhdxHeader): Promise<LogEntry[]> {
  if (isZeroGuid(guidToBytes(h.logGuid)) || h.logLength === 0) return [];
  if (h.logOffset % MiB || h.logLength % MiB || h.logOffset < MiB) {
    throw new CorruptImageError('VHDX header', 0, 'a log aligned to 1 MiB', `offset ${h.logOffset}, length ${h.logLength}`);
  }
  if (h.logOffset + h.logLength > file.size) throw new TruncatedImageError('VHDX log', h.logOffset, h.logLength, file.size);
  if (h.logLength > 128 * MiB) throw new UnsupportedFeatureError(`VHDX log of ${h.logLength} bytes is larger than diskit replays (128 MiB)`);
  const log = new Uint8Array(h.logLength);
  await file.read(log, h.logOffset);
  const len = h.logLength;
  const at = (off: number, n: number): Uint8Array => {
    // Entries wrap around the circular buffer.
    if (off + n <= len) return log.subarray(off, off + n);
    const out = new Uint8Array(n);
    out.set(log.subarray(off));
    out.set(log.subarray(0, n - (len - off)), len - off);
    return out;
  };
  const tryEntry = (off: number): LogEntry | undefined => {
    const hb = at(off, 64);
    if (ascii(hb, 0, 4) !== 'loge') return;
    const hdr = parseLogHeader(hb, h.logOffset + off);
    if (hdr.entryLength === 0 || hdr.entryLength % LOG_SECTOR || hdr.entryLength > len) return;
    if (hdr.sequenceNumber === 0n || hdr.logGuid !== h.logGuid) return;
    const ds = descSectors(hdr.descriptorCount);
    if (ds * LOG_SECTOR > hdr.entryLength) return;
    const entry = at(off, hdr.entryLength);
    if (!crcOk(entry, 4)) return;
    const ops: LogEntry['ops'] = [];
    let dataSector = ds;
    for (let i = 0; i < hdr.descriptorCount; i++) {
      const d = descParser.parse(entry.subarray(64 + i * 32, 96 + i * 32));
      const fileOffset = u64(d.fileOffset, 'VHDX log descriptor', h.logOffset + off + 64 + i * 32 + 16);
      if (d.sequenceNumber !== hdr.sequenceNumber || fileOffset % LOG_SECTOR) return;
      if (d.signature === 'zero') {
        const zl = u64(new DataView(d.leading.buffer, d.leading.byteOffset, 8).getBigUint64(0, true), 'VHDX log descriptor', 0);
        if (zl % LOG_SECTOR) return;
        ops.push({ fileOffset, zeroLength: zl });
      } else if (d.signature === 'desc') {
        if ((dataSector + 1) * LOG_SECTOR > hdr.entryLength) return;
        const s = entry.subarray(dataSector * LOG_SECTOR, (dataSector + 1) * LOG_SECTOR);
        const dv = new DataView(s.buffer, s.byteOffset, LOG_SECTOR);
        const seq = (BigInt(dv.getUint32(4, true)) << 32n) | BigInt(dv.getUint32(4092, true));
        if (ascii(s, 0, 4) !== 'data' || seq !== hdr.sequenceNumber) return;
        const data = new Uint8Array(LOG_SECTOR);
        data.set(d.leading, 0);
        data.set(s.subarray(8, 4092), 8);
        data.set(d.trailing, 4092);
        ops.push({ fileOffset, data });
        dataSector++;
      } else return;
    }
    return { logOffset: off, header: hdr, ops };
  };
  // Every sector may start an entry: find all valid ones, then the longest chain of consecutive
  // sequence numbers ending in the highest one.
  const valid = new Map<number, LogEntry>();
  for (let off = 0; off < len; off += LOG_SECTOR) {
    const e = tryEntry(off);
    if (e) valid.set(off, e);
  }
  let best: LogEntry[] = [];
  for (const start of valid.values()) {
    const chain = [start];
    let cur = start;
    const seen = new Set([start.logOffset]);
    for (;;) {
      const nextOff = (cur.logOffset + cur.header.entryLength) % len;
      const n = valid.get(nextOff);
      if (!n || seen.has(nextOff) || n.header.sequenceNumber !== cur.header.sequenceNumber + 1n) break;
      chain.push(n);
      seen.add(nextOff);
      cur = n;
    }
    const last = chain[chain.length - 1]!.header.sequenceNumber;
    const bestLast = best.length ? best[best.length - 1]!.header.sequenceNumber : -1n;
    if (last > bestLast || (last === bestLast && chain.length > best.length)) best = chain;
  }
  if (!best.length) return [];
  // The head entry's tail says where the active sequence starts.
  const tail = best[best.length - 1]!.header.tail;
  const from = best.findIndex((e) => e.logOffset === tail);
  return from > 0 ? best.slice(from) : best;
}

/** The file as it reads after replaying the log: an overlay of 4 KiB sectors, the file untouched. */
export class LogOverlay extends ReadOnlyDevice {
  readonly sectors = new Map<number, Uint8Array>();
  readonly size: number;
  private static zero = new Uint8Array(LOG_SECTOR);
  constructor(readonly base: BlockDevice, entries: LogEntry[]) {
    super();
    let size = base.size;
    let total = 0;
    for (const e of entries) {
      for (const op of e.ops) {
        if (op.data) {
          this.sectors.set(op.fileOffset, op.data);
          size = Math.max(size, op.fileOffset + LOG_SECTOR);
          total++;
        } else {
          for (let o = op.fileOffset; o < op.fileOffset + op.zeroLength!; o += LOG_SECTOR) {
            if (++total > 1 << 20) throw new UnsupportedFeatureError('VHDX log zeroes more than 4 GiB; diskit does not replay that in memory');
            this.sectors.set(o, LogOverlay.zero);
          }
          size = Math.max(size, op.fileOffset + op.zeroLength!);
        }
      }
      if (e.header.lastFileOffset > size) size = roundUp(e.header.lastFileOffset, MiB);
    }
    this.size = size;
  }
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const fromBase = Math.max(0, Math.min(into.length, this.base.size - offset));
    if (fromBase > 0) await this.base.read(into.subarray(0, fromBase), offset);
    if (fromBase < into.length) into.fill(0, fromBase);
    if (!this.sectors.size) return;
    const end = offset + into.length;
    for (let s = Math.floor(offset / LOG_SECTOR) * LOG_SECTOR; s < end; s += LOG_SECTOR) {
      const d = this.sectors.get(s);
      if (!d) continue;
      const a = Math.max(s, offset);
      const b = Math.min(s + LOG_SECTOR, end);
      into.set(d.subarray(a - s, b - s), a - offset);
    }
  }
}

/**
 * Write a log entry sequence into a VHDX file without applying it (what a writer that crashed
 * mid-update leaves behind). Each op writes 4 KiB-multiple data at a 4 KiB-aligned offset, or
 * zeroes `zeroLength` bytes. Used by tests and by anything that wants crash-safe metadata updates.
 */
export async function writeVhdxLog(
  file: BlockDevice,
  entries: { ops: { fileOffset: number; data?: Uint8Array; zeroLength?: number }[]; lastFileOffset?: number }[],
  opts: { firstSequence?: bigint; logGuid?: string } = {},
): Promise<void> {
  const { header, index } = await readHeaders(file);
  const logGuid = opts.logGuid ?? randomGuid();
  let seq = opts.firstSequence ?? 1n;
  let pos = 0;
  const tail = 0;
  for (const e of entries) {
    const sectors: { fileOffset: number; data: Uint8Array }[] = [];
    const zeros: { fileOffset: number; zeroLength: number }[] = [];
    const descs: ({ kind: 'data'; i: number } | { kind: 'zero'; i: number })[] = [];
    for (const op of e.ops) {
      if (op.fileOffset % LOG_SECTOR) throw new UsageError('log writes must be 4 KiB aligned');
      if (op.data) {
        if (op.data.length % LOG_SECTOR) throw new UsageError('log data must be a multiple of 4 KiB');
        for (let o = 0; o < op.data.length; o += LOG_SECTOR) {
          descs.push({ kind: 'data', i: sectors.length });
          sectors.push({ fileOffset: op.fileOffset + o, data: op.data.subarray(o, o + LOG_SECTOR) });
        }
      } else {
        descs.push({ kind: 'zero', i: zeros.length });
        zeros.push({ fileOffset: op.fileOffset, zeroLength: op.zeroLength ?? 0 });
      }
    }
    const ds = descSectors(descs.length);
    const entryLength = (ds + sectors.length) * LOG_SECTOR;
    const buf = new Uint8Array(entryLength);
    const w = new ByteWriter(buf);
    w.ascii(0, 'loge', 4).u32le(8, entryLength).u32le(12, tail).u64le(16, seq).u32le(24, descs.length)
      .bytesAt(32, guidToBytes(logGuid)).u64le(48, file.size).u64le(56, Math.max(file.size, e.lastFileOffset ?? 0));
    descs.forEach((d, k) => {
      const o = 64 + k * 32;
      if (d.kind === 'zero') {
        const z = zeros[d.i]!;
        w.ascii(o, 'zero', 4).u64le(o + 8, z.zeroLength).u64le(o + 16, z.fileOffset).u64le(o + 24, seq);
      } else {
        const s = sectors[d.i]!;
        w.ascii(o, 'desc', 4).bytesAt(o + 4, s.data.subarray(4092, 4096)).bytesAt(o + 8, s.data.subarray(0, 8))
          .u64le(o + 16, s.fileOffset).u64le(o + 24, seq);
        const so = (ds + d.i) * LOG_SECTOR;
        w.ascii(so, 'data', 4).u32le(so + 4, Number(seq >> 32n)).bytesAt(so + 8, s.data.subarray(8, 4092)).u32le(so + 4092, Number(seq & 0xffffffffn));
      }
    });
    withCrc(buf, 4);
    if (pos + entryLength > header.logLength) throw new UsageError('log entries do not fit in the log');
    await file.write(buf, header.logOffset + pos);
    pos += entryLength;
    seq++;
  }
  await writeHeaders(file, { ...header, logGuid }, index);
}

async function readHeaders(file: BlockDevice): Promise<{ header: VhdxHeader; index: number; raw: Uint8Array[]; valid: boolean[] }> {
  const raw: Uint8Array[] = [];
  const valid: boolean[] = [];
  for (const off of VHDX_HEADER_OFFSETS) {
    if (off + HEADER_SIZE > file.size) throw new TruncatedImageError('VHDX header', off, HEADER_SIZE, file.size);
    const b = new Uint8Array(HEADER_SIZE);
    await file.read(b, off);
    raw.push(b);
    valid.push(ascii(b, 0, 4) === 'head' && crcOk(b, 4));
  }
  const hs = raw.map((b, i) => parseVhdxHeader(b, VHDX_HEADER_OFFSETS[i]!));
  let index: number;
  if (valid[0] && valid[1]) index = hs[1]!.sequenceNumber > hs[0]!.sequenceNumber ? 1 : 0;
  else if (valid[0]) index = 0;
  else if (valid[1]) index = 1;
  else throw new CorruptImageError('VHDX header', VHDX_HEADER_OFFSETS[0], "a 'head' header with a valid CRC32C in either copy", 'none');
  const header = hs[index]!;
  if (header.version !== 1) throw new UnsupportedFeatureError(`VHDX version ${header.version} (only 1 is known)`);
  if (header.logVersion !== 0) throw new UnsupportedFeatureError(`VHDX log version ${header.logVersion} (only 0 is known)`);
  return { header, index, raw, valid };
}

/** Write both headers (the current one last) with higher sequence numbers. */
async function writeHeaders(file: BlockDevice, h: VhdxHeader, current: number): Promise<void> {
  const other = 1 - current;
  await file.write(encodeVhdxHeader({ ...h, sequenceNumber: h.sequenceNumber + 1n }), VHDX_HEADER_OFFSETS[other]!);
  await file.flush();
  await file.write(encodeVhdxHeader({ ...h, sequenceNumber: h.sequenceNumber + 2n }), VHDX_HEADER_OFFSETS[current]!);
  await file.flush();
}

// ---- the image ---------------------------------------------------------------------------------

export class VhdxImage implements Image {
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
  private dev!: BlockDevice;
  readonly problems: Problem[] = [];
  /** Differencing: the parent locator's key/value pairs, and the parent once open. */
  parentLocator?: { type: string; entries: Record<string, string> };
  parent?: Image;
  parentName?: string;
  private parentFile?: BlockDevice;
  private bitmaps = new Map<number, Uint8Array>();
  /** Where the next allocated block goes (1 MiB aligned). */
  private fileEnd = 0;
  private headerUpdated = false;

  private constructor(readonly file: BlockDevice, private readonly writable: boolean) {}

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
    if (!opts.openRelative) throw new UnsupportedFeatureError('differencing VHDX needs its parent, and files cannot be opened here');
    const e = loc.entries;
    const linkage = [e.parent_linkage, e.parent_linkage2].filter(Boolean).map((g) => g!.replace(/[{}]/g, '').toUpperCase());
    if (!linkage.length) throw new CorruptImageError('VHDX parent locator', this.metadataOffset, 'a parent_linkage entry', 'none');
    const names: string[] = [];
    if (e.relative_path) names.push(windowsRelative(e.relative_path));
    for (const k of ['absolute_win32_path', 'volume_path']) {
      const v = e[k];
      if (!v) continue;
      names.push(/^[A-Za-z]:\\|^\\\\/.test(v) ? baseName(v) : v.replace(/\\/g, '/'));
    }
    const tried: string[] = [];
    for (const name of names) {
      if (tried.includes(name)) continue;
      tried.push(name);
      let pf: BlockDevice;
      try {
        pf = await opts.openRelative(name);
      } catch {
        continue;
      }
      try {
        const parent = await VhdxImage.open(pf, { name, openRelative: opts.openRelative }, chain);
        if (!linkage.includes(parent.header.dataWriteGuid)) {
          throw new CorruptImageError('VHDX parent locator', this.metadataOffset, `a parent with DataWriteGuid ${linkage.join(' or ')}`, `${parent.header.dataWriteGuid} in ${name}`);
        }
        if (parent.size !== this.size || parent.logicalSectorSize !== this.logicalSectorSize) {
          throw new CorruptImageError('VHDX parent', this.metadataOffset, `a parent of ${this.size} bytes with ${this.logicalSectorSize}-byte sectors`, `${parent.size} bytes, ${parent.logicalSectorSize}-byte sectors`);
        }
        this.parent = parent;
        this.parentFile = pf;
        this.parentName = name;
        return;
      } catch (err) {
        await pf.close().catch(() => {});
        throw err;
      }
    }
    throw new CorruptImageError('VHDX parent locator', this.metadataOffset, 'a readable parent', `none of ${JSON.stringify(tried)} could be opened`);
  }

  private async load(): Promise<void> {
    const file = this.file;
    if (file.size < 320 * KiB) throw new TruncatedImageError('VHDX file', 0, 320 * KiB, file.size);
    const fid = new Uint8Array(520);
    await file.read(fid, 0);
    if (ascii(fid, 0, 8) !== 'vhdxfile') throw new CorruptImageError('VHDX file identifier', 0, "signature 'vhdxfile'", JSON.stringify(ascii(fid, 0, 8)));
    this.creator = utf16(fid.subarray(8, 520), true);
    const hs = await readHeaders(file);
    this.header = hs.header;
    this.headerIndex = hs.index;
    this.headersValid = hs.valid;
    this.log = await readVhdxLog(file, hs.header);
    if (this.log.length) {
      for (const e of this.log) {
        if (e.header.flushedFileOffset > file.size) throw new TruncatedImageError('VHDX log entry (FlushedFileOffset)', this.header.logOffset + e.logOffset, e.header.flushedFileOffset, file.size);
      }
      this.dev = new LogOverlay(file, this.log);
    } else this.dev = file;
    const dev = this.dev;

    // Region tables: the first valid copy.
    this.regionTablesValid = [];
    let table: VhdxRegion[] | undefined;
    for (const off of VHDX_REGION_OFFSETS) {
      const b = new Uint8Array(REGION_TABLE_SIZE);
      await dev.read(b, off);
      const ok = ascii(b, 0, 4) === 'regi' && crcOk(b, 4);
      this.regionTablesValid.push(ok);
      if (ok && !table) table = parseRegionTable(b, off).entries;
    }
    if (!table) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], "a 'regi' table with a valid CRC32C in either copy", 'none');
    this.regions = table;
    for (const r of table) {
      if (r.guid !== GUIDS.bat && r.guid !== GUIDS.metadata && r.required) throw new UnsupportedFeatureError(`VHDX region ${r.guid} is required but unknown`);
      if (r.fileOffset % MiB || r.fileOffset < MiB) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], 'regions aligned to 1 MiB', `${r.guid} at ${r.fileOffset}`);
      if (r.fileOffset + r.length > dev.size) throw new TruncatedImageError(`VHDX region ${METADATA_NAMES[r.guid] ?? r.guid}`, r.fileOffset, r.length, dev.size);
    }
    const batR = table.find((r) => r.guid === GUIDS.bat);
    const metaR = table.find((r) => r.guid === GUIDS.metadata);
    if (!batR || !metaR) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], 'BAT and metadata regions', table.map((r) => r.guid).join(', '));

    // Metadata.
    this.metadataOffset = metaR.fileOffset;
    if (metaR.length < 64 * KiB) throw new CorruptImageError('VHDX metadata region', metaR.fileOffset, 'at least 64 KiB', String(metaR.length));
    const mt = new Uint8Array(64 * KiB);
    await dev.read(mt, metaR.fileOffset);
    const mh = metaHeaderParser.parse(mt.subarray(0, 12));
    if (mh.signature !== 'metadata') throw new CorruptImageError('VHDX metadata table', metaR.fileOffset, "signature 'metadata'", JSON.stringify(mh.signature));
    if (mh.entryCount > 2047) throw new CorruptImageError('VHDX metadata table', metaR.fileOffset + 10, 'at most 2047 entries', String(mh.entryCount));
    this.metadataEntries = [];
    const items = new Map<string, Uint8Array>();
    for (let i = 0; i < mh.entryCount; i++) {
      const e = metaEntryParser.parse(mt.subarray(32 + i * 32, 64 + i * 32));
      const entry: VhdxMetadataEntry = {
        itemId: guidToString(e.itemId), offset: e.offset, length: e.length,
        isUser: !!(e.flags & 1), isVirtualDisk: !!(e.flags & 2), isRequired: !!(e.flags & 4),
      };
      this.metadataEntries.push(entry);
      if (entry.length === 0) continue;
      if (entry.offset < 64 * KiB || entry.offset + entry.length > metaR.length || entry.length > MiB) {
        throw new CorruptImageError('VHDX metadata entry', metaR.fileOffset + 32 + i * 32, `an item inside the metadata region (${metaR.length} bytes)`, `offset ${entry.offset}, length ${entry.length}`);
      }
      if (!METADATA_NAMES[entry.itemId] && entry.isRequired) throw new UnsupportedFeatureError(`VHDX metadata item ${entry.itemId} is required but unknown`);
      const b = new Uint8Array(entry.length);
      await dev.read(b, metaR.fileOffset + entry.offset);
      items.set(entry.itemId, b);
    }
    const need = (id: string, len: number): DataView => {
      const b = items.get(id);
      if (!b || b.length < len) throw new CorruptImageError('VHDX metadata', metaR.fileOffset, `item ${METADATA_NAMES[id]} (${id})`, b ? `${b.length} bytes` : 'missing');
      return new DataView(b.buffer, b.byteOffset, b.byteLength);
    };
    const fp = need(GUIDS.fileParameters, 8);
    this.blockSize = fp.getUint32(0, true);
    this.leaveBlocksAllocated = !!(fp.getUint32(4, true) & 1);
    this.hasParent = !!(fp.getUint32(4, true) & 2);
    this.size = u64(need(GUIDS.virtualDiskSize, 8).getBigUint64(0, true), 'VHDX virtual disk size', metaR.fileOffset);
    this.diskId = guidToString(new Uint8Array(need(GUIDS.virtualDiskId, 16).buffer, items.get(GUIDS.virtualDiskId)!.byteOffset, 16));
    this.logicalSectorSize = need(GUIDS.logicalSectorSize, 4).getUint32(0, true);
    this.physicalSectorSize = need(GUIDS.physicalSectorSize, 4).getUint32(0, true);
    if (!isPow2(this.blockSize) || this.blockSize < MiB || this.blockSize > 256 * MiB) throw new CorruptImageError('VHDX file parameters', metaR.fileOffset, 'a block size from 1 MiB to 256 MiB, power of two', String(this.blockSize));
    if (this.logicalSectorSize !== 512 && this.logicalSectorSize !== 4096) throw new CorruptImageError('VHDX logical sector size', metaR.fileOffset, '512 or 4096', String(this.logicalSectorSize));
    if (this.physicalSectorSize !== 512 && this.physicalSectorSize !== 4096) throw new CorruptImageError('VHDX physical sector size', metaR.fileOffset, '512 or 4096', String(this.physicalSectorSize));
    if (this.size % this.logicalSectorSize || this.size > 64 * 2 ** 40) throw new CorruptImageError('VHDX virtual disk size', metaR.fileOffset, 'a multiple of the logical sector size up to 64 TiB', String(this.size));
    this.variant = this.hasParent ? 'differencing' : this.leaveBlocksAllocated ? 'fixed' : 'dynamic';
    const pl = items.get(GUIDS.parentLocator);
    if (pl) this.parentLocator = parseParentLocator(pl, metaR.fileOffset);

    // BAT.
    this.chunkRatio = (2 ** 23 * this.logicalSectorSize) / this.blockSize;
    const payload = Math.ceil(this.size / this.blockSize);
    const total = batEntries(payload, this.chunkRatio, this.hasParent);
    this.batOffset = batR.fileOffset;
    if (total * 8 > batR.length) throw new CorruptImageError('VHDX BAT region', batR.fileOffset, `room for ${total} entries`, `${batR.length} bytes`);
    const raw = new Uint8Array(total * 8);
    await dev.read(raw, batR.fileOffset);
    const dv = new DataView(raw.buffer);
    this.batStates = new Uint8Array(total);
    this.batOffsets = new Float64Array(total);
    for (let i = 0; i < total; i++) {
      const lo = dv.getUint32(i * 8, true);
      const hi = dv.getUint32(i * 8 + 4, true);
      this.batStates[i] = lo & 7;
      // FileOffsetMB: bits 20..63.
      this.batOffsets[i] = hi * 4096 + (lo >>> 20);
    }
    let end = Math.max(this.file.size, this.dev.size);
    for (let i = 0; i < total; i++) {
      if (this.batStates[i] === FULLY_PRESENT || this.batStates[i] === PARTIALLY_PRESENT) {
        end = Math.max(end, this.batOffsets[i]! * MiB + ((i + 1) % (this.chunkRatio + 1) === 0 ? MiB : this.blockSize));
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
    if (this.bitmaps.size > 4096) this.bitmaps.clear();
    this.bitmaps.set(blk, b);
    return b;
  }

  /** Runs [start, end) (bytes within the block) whose sectors are present in this file or not. */
  private bitRuns(bm: Uint8Array | undefined, from: number, to: number): [number, number, boolean][] {
    const ss = this.logicalSectorSize;
    if (!bm) return [[from, to, false]];
    const out: [number, number, boolean][] = [];
    const bit = (s: number) => ((bm[s >> 3]! >> (s & 7)) & 1) === 1;
    let pos = from;
    while (pos < to) {
      const v = bit(Math.floor(pos / ss));
      let next = (Math.floor(pos / ss) + 1) * ss;
      while (next < to) {
        const s = next / ss;
        if ((s & 7) === 0 && next + 8 * ss <= to && bm[s >> 3] === (v ? 0xff : 0)) {
          next += 8 * ss;
          continue;
        }
        if (bit(s) !== v) break;
        next += ss;
      }
      const end = Math.min(next, to);
      out.push([pos, end, v]);
      pos = end;
    }
    return out;
  }

  /** BAT index of payload block `i`. */
  private batIndex(i: number): number {
    return i + Math.floor(i / this.chunkRatio);
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
    // Pieces are read concurrently into disjoint parts of `into`.
    const ops: Promise<void>[] = [];
    try {
      for (const { block: blk, inBlock: inBlk, at, length: n } of blockPieces(offset, into.length, bs)) {
        const voff = offset + at;
        const piece = into.subarray(at, at + n);
        const st = this.batStates[this.batIndex(blk)]!;
        if (st === FULLY_PRESENT || (st === PARTIALLY_PRESENT && !this.parent)) ops.push(this.dev.read(piece, this.blockOffset(blk) + inBlk));
        else if (st === PARTIALLY_PRESENT) {
          const base = this.blockOffset(blk);
          for (const [a, b, present] of this.bitRuns(await this.blockBitmap(blk), inBlk, inBlk + n)) {
            const sub = piece.subarray(a - inBlk, b - inBlk);
            ops.push(present ? this.dev.read(sub, base + a) : this.parent!.read(sub, blk * bs + a));
          }
        } else if (this.parent && st !== 2) ops.push(this.parent.read(piece, voff));
        else piece.fill(0);
      }
    } catch (e) {
      for (const op of ops) op.catch(() => {});
      throw e;
    }
    await Promise.all(ops);
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
    const mb = fileOffset / MiB;
    const sectorOff = this.batOffset + Math.floor((idx * 8) / LOG_SECTOR) * LOG_SECTOR;
    const sector = new Uint8Array(LOG_SECTOR);
    await this.file.read(sector, sectorOff);
    const dv = new DataView(sector.buffer);
    dv.setUint32((idx * 8) % LOG_SECTOR, ((mb & 0xfff) << 20) | state, true);
    dv.setUint32(((idx * 8) % LOG_SECTOR) + 4, Math.floor(mb / 4096), true);
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
    this.batOffsets[idx] = mb;
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
    if (!this.parent || st === 2) {
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
      if (this.parent && st !== FULLY_PRESENT && st !== 2) {
        const runs = st === PARTIALLY_PRESENT
          ? this.bitRuns(await this.blockBitmap(blk), pos - blk * this.blockSize, bend - blk * this.blockSize).map(([a, b, p]) => [a + blk * this.blockSize, b + blk * this.blockSize, p] as const)
          : [[pos, bend, false] as const];
        for (const [a, b, present] of runs) {
          if (present) yield { offset: a, length: b - a, kind: 'data' };
          else yield* this.parent.extents(a, b - a);
        }
      } else {
        const kind = st === FULLY_PRESENT || st === PARTIALLY_PRESENT ? 'data' : st === 2 ? 'zero' : 'unallocated';
        yield { offset: pos, length: bend - pos, kind };
      }
      pos = bend;
    }
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await this.file.flush();
  }
  async close(): Promise<void> {
    if (this.parent) await this.parent.close();
    if (this.parentFile) await this.parentFile.close().catch(() => {});
  }

  private batSummary(): Record<string, unknown> {
    const counts: Record<string, number> = {};
    let bitmaps = 0;
    for (let i = 0; i < this.batStates.length; i++) {
      if ((i + 1) % (this.chunkRatio + 1) === 0) {
        if (this.batStates[i]) bitmaps++;
        continue;
      }
      const s = PAYLOAD_STATES[this.batStates[i]!]!;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    return { entries: this.batStates.length, payloadBlocks: Math.ceil(this.size / this.blockSize), chunkRatio: this.chunkRatio, states: counts, sectorBitmapsPresent: bitmaps };
  }

  async inspect(): Promise<Inspection> {
    const structures: Structure[] = [{ name: 'file identifier', offset: 0, size: 64 * KiB, fields: { signature: 'vhdxfile', creator: this.creator } }];
    for (let i = 0; i < 2; i++) {
      const b = new Uint8Array(HEADER_SIZE);
      await this.file.read(b, VHDX_HEADER_OFFSETS[i]!);
      const h = parseVhdxHeader(b, VHDX_HEADER_OFFSETS[i]!);
      structures.push({
        name: `header ${i + 1}`, offset: VHDX_HEADER_OFFSETS[i]!, size: HEADER_SIZE,
        fields: { ...h, sequenceNumber: h.sequenceNumber.toString(), checksumValid: this.headersValid[i], current: i === this.headerIndex },
      });
    }
    for (let i = 0; i < 2; i++) {
      structures.push({
        name: `region table ${i + 1}`, offset: VHDX_REGION_OFFSETS[i]!, size: REGION_TABLE_SIZE,
        fields: { checksumValid: this.regionTablesValid[i] },
        children: i === 0 ? this.regions.map((r) => ({ name: `region ${METADATA_NAMES[r.guid] ?? r.guid}`, offset: r.fileOffset, size: r.length, fields: { ...r } })) : undefined,
      });
    }
    structures.push({
      name: 'log', offset: this.header.logOffset, size: this.header.logLength, fields: { logGuid: this.header.logGuid, activeEntries: this.log.length },
      children: this.log.map((e) => ({
        name: `log entry ${e.header.sequenceNumber}`, offset: this.header.logOffset + e.logOffset, size: e.header.entryLength,
        fields: { ...e.header, sequenceNumber: e.header.sequenceNumber.toString(), writes: e.ops.map((o) => ({ fileOffset: o.fileOffset, length: o.data?.length ?? o.zeroLength, zero: !o.data })) },
      })),
    });
    structures.push({
      name: 'metadata table', offset: this.metadataOffset, size: 64 * KiB, fields: { entries: this.metadataEntries.length },
      children: this.metadataEntries.map((m) => ({
        name: METADATA_NAMES[m.itemId] ?? m.itemId, offset: this.metadataOffset + m.offset, size: m.length,
        fields: { ...m, ...(m.itemId === GUIDS.parentLocator && this.parentLocator ? { locatorType: this.parentLocator.type, entries: this.parentLocator.entries } : {}) },
      })),
    });
    structures.push({ name: 'BAT', offset: this.batOffset, size: this.batStates.length * 8, fields: this.batSummary() });
    return {
      format: 'vhdx', variant: this.variant, virtualSize: this.size, structures,
      blockSize: this.blockSize, logicalSectorSize: this.logicalSectorSize, physicalSectorSize: this.physicalSectorSize,
    };
  }

  async info(): Promise<Record<string, unknown>> {
    return {
      creator: this.creator, subformat: this.variant, blockSize: this.blockSize, logicalSectorSize: this.logicalSectorSize,
      physicalSectorSize: this.physicalSectorSize, diskId: this.diskId, logDirty: this.log.length > 0, bat: this.batSummary(),
      ...(this.parentLocator ? { parentLocator: this.parentLocator.entries } : {}),
      ...(this.parent ? { parent: { name: this.parentName, format: this.parent.format, variant: this.parent.variant } } : {}),
    };
  }

  async check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    const problems: Problem[] = [];
    const repaired: string[] = [];
    if (opts.repair && this.writable && !this.file.readOnly) {
      const bad = this.headersValid.findIndex((ok) => !ok);
      if (bad >= 0) {
        const h = { ...this.header, sequenceNumber: this.header.sequenceNumber + 1n };
        await this.file.write(encodeVhdxHeader(h), VHDX_HEADER_OFFSETS[bad]!);
        this.header = h;
        this.headerIndex = bad;
        this.headersValid = [true, true];
        repaired.push(`rewrote header ${bad + 1} from the current one`);
      }
      const badRt = this.regionTablesValid.findIndex((ok) => !ok);
      if (badRt >= 0) {
        const good = new Uint8Array(REGION_TABLE_SIZE);
        await this.file.read(good, VHDX_REGION_OFFSETS[1 - badRt]!);
        await this.file.write(good, VHDX_REGION_OFFSETS[badRt]!);
        this.regionTablesValid = [true, true];
        repaired.push(`rewrote region table ${badRt + 1} from the other copy`);
      }
      if (repaired.length) await this.file.flush();
    }
    this.headersValid.forEach((ok, i) => {
      if (!ok) problems.push({ severity: 'error', structure: 'VHDX header', offset: VHDX_HEADER_OFFSETS[i], message: `header ${i + 1} has a bad signature or CRC32C` });
    });
    this.regionTablesValid.forEach((ok, i) => {
      if (!ok) problems.push({ severity: 'error', structure: 'VHDX region table', offset: VHDX_REGION_OFFSETS[i], message: `region table ${i + 1} has a bad signature or CRC32C` });
    });
    if (this.log.length) {
      if (opts.repair && this.writable && !this.file.readOnly) {
        await this.applyLog();
        repaired.push(`replayed ${this.log.length} log entr${this.log.length === 1 ? 'y' : 'ies'} into the file`);
        this.log = [];
        await this.load();
      } else {
        problems.push({ severity: 'warning', structure: 'VHDX log', offset: this.header.logOffset, message: `the log holds ${this.log.length} entr${this.log.length === 1 ? 'y' : 'ies'} to replay (read through an in-memory replay; check --repair on a writable open applies them)` });
      }
    }
    // Regions must not overlap each other or the first MiB.
    const spans: [number, number, string][] = [[0, MiB, 'headers'], [this.header.logOffset, this.header.logOffset + this.header.logLength, 'log']];
    for (const r of this.regions) spans.push([r.fileOffset, r.fileOffset + r.length, METADATA_NAMES[r.guid] ?? r.guid]);
    const meta = spans.slice();
    const payload = Math.ceil(this.size / this.blockSize);
    for (let i = 0; i < this.batStates.length; i++) {
      const st = this.batStates[i]!;
      const isBitmap = (i + 1) % (this.chunkRatio + 1) === 0;
      if (isBitmap ? st !== 0 && st !== 6 : st === 4 || st === 5) {
        problems.push({ severity: 'error', structure: 'VHDX BAT', offset: this.batOffset + i * 8, message: `entry ${i} has invalid state ${st}` });
        continue;
      }
      if (st !== FULLY_PRESENT && st !== PARTIALLY_PRESENT) continue;
      const off = this.batOffsets[i]! * MiB;
      const blk = isBitmap ? -1 : i - Math.floor(i / (this.chunkRatio + 1));
      const len = isBitmap ? MiB : this.blockSize;
      if (!isBitmap && blk >= payload) continue;
      const label = isBitmap ? `sector bitmap entry ${i}` : `payload block ${blk}`;
      if (off + (isBitmap ? MiB : Math.min(len, this.size - blk * this.blockSize)) > this.dev.size) {
        problems.push({ severity: 'error', structure: 'VHDX BAT', offset: this.batOffset + i * 8, message: `${label} at ${off} lies past the end of the file (${this.dev.size})` });
        continue;
      }
      for (const [s, e, name] of meta) {
        if (off < e && off + len > s) problems.push({ severity: 'error', structure: 'VHDX BAT', offset: this.batOffset + i * 8, message: `${label} at ${off} overlaps the ${name}` });
      }
      spans.push([off, off + len, label]);
    }
    const blocks = spans.slice(meta.length).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < blocks.length; i++) {
      if (blocks[i]![0] < blocks[i - 1]![1]) problems.push({ severity: 'error', structure: 'VHDX BAT', offset: blocks[i]![0], message: `${blocks[i]![2]} overlaps ${blocks[i - 1]![2]}` });
    }
    // Orphaned: space between or after payload blocks that nothing uses (dynamic images only;
    // the gap before the first block is left by writers such as qemu on purpose).
    if (this.variant === 'dynamic' && blocks.length) {
      let cursor = blocks[0]![1];
      let orphan = 0;
      for (const [s, e] of blocks) {
        if (s > cursor) orphan += s - cursor;
        cursor = Math.max(cursor, e);
      }
      for (const [s, e] of meta) if (s >= cursor) orphan -= e - s;
      if (this.dev.size > cursor) orphan += Math.floor((this.dev.size - cursor) / MiB) * MiB;
      if (orphan >= this.blockSize) problems.push({ severity: 'warning', structure: 'VHDX file', message: `${orphan} bytes after the first payload block belong to no block (orphaned)` });
    }
    if (this.parent?.check) {
      for (const p of (await this.parent.check()).problems) problems.push({ ...p, message: `parent ${this.parentName}: ${p.message}` });
    }
    return { problems, ...(opts.repair ? { repaired } : {}) };
  }

  /** Replay the log into the file, then clear the log GUID in both headers. */
  private async applyLog(): Promise<void> {
    for (const e of this.log) {
      for (const op of e.ops) {
        if (op.data) await this.file.write(op.data, op.fileOffset);
        else {
          const z = new Uint8Array(Math.min(op.zeroLength!, 4 * MiB));
          for (let o = 0; o < op.zeroLength!; o += z.length) await this.file.write(z.subarray(0, Math.min(z.length, op.zeroLength! - o)), op.fileOffset + o);
        }
      }
      const last = e.header.lastFileOffset;
      if (this.file.size < last) {
        const end = roundUp(last, MiB);
        await this.file.write(new Uint8Array(1), end - 1);
      }
    }
    await this.file.flush();
    await writeHeaders(this.file, { ...this.header, logGuid: '00000000-0000-0000-0000-000000000000' }, this.headerIndex);
  }
}

// ---- creating ----------------------------------------------------------------------------------

export interface VhdxCreateParams {
  subformat: 'fixed' | 'dynamic';
  blockSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  size: number;
  /** Log region size (default 1 MiB). */
  logSize?: number;
}

export function vhdxCreateParams(sourceSize: number, options: Record<string, string> = {}): VhdxCreateParams {
  checkKeys('vhdx', options, ['subformat', 'block_size', 'logical_sector_size', 'physical_sector_size', 'log_size']);
  const logSize = options.log_size ? parseSize('log_size', options.log_size) : MiB;
  if (logSize < MiB || logSize % MiB || logSize > 256 * MiB) throw new UsageError('vhdx: -o log_size must be a multiple of 1M from 1M to 256M');
  const subformat = (options.subformat ?? 'dynamic') as 'fixed' | 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw new UsageError(`vhdx: -o subformat must be fixed or dynamic (got '${options.subformat}')`);
  const blockSize = options.block_size ? parseSize('block_size', options.block_size) : 32 * MiB;
  if (!isPow2(blockSize) || blockSize < MiB || blockSize > 256 * MiB) throw new UsageError('vhdx: -o block_size must be a power of two from 1M to 256M');
  const logicalSectorSize = options.logical_sector_size ? parseSize('logical_sector_size', options.logical_sector_size) : 512;
  const physicalSectorSize = options.physical_sector_size ? parseSize('physical_sector_size', options.physical_sector_size) : 4096;
  for (const [k, v] of [['logical_sector_size', logicalSectorSize], ['physical_sector_size', physicalSectorSize]] as const) {
    if (v !== 512 && v !== 4096) throw new UsageError(`vhdx: -o ${k} must be 512 or 4096`);
  }
  const size = roundUp(sourceSize, logicalSectorSize);
  if (size > 64 * 2 ** 40) throw new UsageError('vhdx: larger than the 64 TiB limit');
  return { subformat, blockSize, logicalSectorSize, physicalSectorSize, size, logSize };
}

/** The fixed part of a new VHDX (first 3 MiB + BAT): identifier, headers, region tables, metadata. */
function vhdxLayout(p: VhdxCreateParams, differencing = false) {
  const payload = Math.ceil(p.size / p.blockSize);
  const chunkRatio = (2 ** 23 * p.logicalSectorSize) / p.blockSize;
  const entries = batEntries(payload, chunkRatio, differencing);
  const logOffset = MiB;
  const logLength = p.logSize ?? MiB;
  const metaOffset = logOffset + logLength;
  const metaLength = MiB;
  const batOffset = metaOffset + metaLength;
  const batLength = roundUp(Math.max(entries * 8, 1), MiB);
  const dataStart = batOffset + batLength;
  return { payload, chunkRatio, entries, logOffset, logLength, metaOffset, metaLength, batOffset, batLength, dataStart };
}

async function writeVhdxSkeleton(sink: ImageSink, p: VhdxCreateParams, L: ReturnType<typeof vhdxLayout>, leaveAllocated: boolean, parentLocator?: Uint8Array, diskId?: string): Promise<void> {
  const fid = new Uint8Array(64 * KiB);
  fid.set(new TextEncoder().encode('vhdxfile'));
  fid.set(encodeUtf16('diskit', true), 8);
  await sink.write(fid, 0);
  const h: VhdxHeader = {
    signature: 'head', checksum: 0, sequenceNumber: 1n, fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid(),
    logGuid: '00000000-0000-0000-0000-000000000000', logVersion: 0, version: 1, logLength: L.logLength, logOffset: L.logOffset,
  };
  await sink.write(encodeVhdxHeader(h), VHDX_HEADER_OFFSETS[0]);
  await sink.write(encodeVhdxHeader({ ...h, sequenceNumber: 2n }), VHDX_HEADER_OFFSETS[1]);
  const rt = encodeRegionTable([
    { guid: GUIDS.bat, fileOffset: L.batOffset, length: L.batLength, required: true },
    { guid: GUIDS.metadata, fileOffset: L.metaOffset, length: L.metaLength, required: true },
  ]);
  await sink.write(rt, VHDX_REGION_OFFSETS[0]);
  await sink.write(rt, VHDX_REGION_OFFSETS[1]);
  // Metadata table and items (items from 64 KiB into the region).
  const meta = new Uint8Array(64 * KiB + 4096 + (parentLocator?.length ?? 0));
  const w = new ByteWriter(meta);
  const items: [string, number, Uint8Array][] = [];
  const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
  const fpb = new Uint8Array(8);
  new DataView(fpb.buffer).setUint32(0, p.blockSize, true);
  new DataView(fpb.buffer).setUint32(4, (leaveAllocated ? 1 : 0) | (parentLocator ? 2 : 0), true);
  const vs = new Uint8Array(8);
  new DataView(vs.buffer).setBigUint64(0, BigInt(p.size), true);
  items.push([GUIDS.fileParameters, 4, fpb], [GUIDS.virtualDiskSize, 6, vs], [GUIDS.virtualDiskId, 6, guidToBytes(diskId ?? randomGuid())],
    [GUIDS.logicalSectorSize, 6, u32(p.logicalSectorSize)], [GUIDS.physicalSectorSize, 6, u32(p.physicalSectorSize)]);
  if (parentLocator) items.push([GUIDS.parentLocator, 4, parentLocator]);
  w.ascii(0, 'metadata', 8).u16le(10, items.length);
  let at = 64 * KiB;
  items.forEach(([id, flags, data], i) => {
    const o = 32 + i * 32;
    w.bytesAt(o, guidToBytes(id)).u32le(o + 16, at).u32le(o + 20, data.length).u32le(o + 24, flags);
    w.bytesAt(at, data);
    at += data.length;
  });
  await sink.write(meta, L.metaOffset);
}

/** Write `source` as a VHDX: fixed (every block present, in order) or dynamic (blocks only where data is). */
export async function createVhdx(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const p = vhdxCreateParams(source.size, opts.options);
  const L = vhdxLayout(p);
  const bs = p.blockSize;
  await writeVhdxSkeleton(sink, p, L, p.subformat === 'fixed');
  const bat = new Uint8Array(L.entries * 8);
  const bv = new DataView(bat.buffer);
  const setEntry = (blk: number, state: number, fileOffset: number) => {
    const i = blk + Math.floor(blk / L.chunkRatio);
    const mb = fileOffset / MiB;
    bv.setUint32(i * 8, ((mb & 0xfff) << 20) | state, true);
    bv.setUint32(i * 8 + 4, Math.floor(mb / 4096), true);
  };
  let end: number;
  if (p.subformat === 'fixed') {
    for (let b = 0; b < L.payload; b++) setEntry(b, FULLY_PRESENT, L.dataStart + b * bs);
    await pumpDataRuns(source, (data, offset) => sink.write(data, L.dataStart + offset), { onProgress: opts.onProgress, ordered: false });
    end = L.dataStart + L.payload * bs;
  } else {
    let next = L.dataStart;
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
          setEntry(blk, FULLY_PRESENT, next);
          curBase = next - blk * bs;
          next += bs;
        }
        writes.push(sink.write(data.subarray(pos, pos + n), curBase + voff));
        pos += n;
      }
      return Promise.all(writes).then(() => {});
    }, { onProgress: opts.onProgress });
    end = next;
  }
  await sink.write(bat, L.batOffset);
  await sink.truncate(end);
  // No flush here: like qemu-img convert (cache=unsafe), syncing is the caller's choice (AtomicOutput.commit({sync})).

}

/**
 * Create an empty differencing VHDX whose parent is `parent` (an opened VHDX image) stored under
 * `parentPath` relative to the child's folder. Open the child with `writable: true` to write into it.
 */
export async function createDifferencingVhdx(parentPath: string, parent: Image, sink: ImageSink, opts: { absolutePath?: string } = {}): Promise<void> {
  if (!(parent instanceof VhdxImage)) throw new UsageError(`the parent of a differencing VHDX must be a VHDX image (got ${parent.format})`);
  const p: VhdxCreateParams = { subformat: 'dynamic', blockSize: parent.blockSize, logicalSectorSize: parent.logicalSectorSize, physicalSectorSize: parent.physicalSectorSize, size: parent.size };
  const L = vhdxLayout(p, true);
  const entries: Record<string, string> = {
    parent_linkage: `{${parent.header.dataWriteGuid.toLowerCase()}}`,
    relative_path: '.\\' + parentPath.replace(/\//g, '\\').replace(/^\.\\/, ''),
  };
  if (opts.absolutePath) entries.absolute_win32_path = opts.absolutePath.replace(/\//g, '\\');
  await writeVhdxSkeleton(sink, p, L, false, encodeParentLocator(entries));
  await sink.write(new Uint8Array(L.entries * 8), L.batOffset);
  await sink.truncate(L.dataStart);
}

export const vhdxDriver: FormatDriver = {
  name: 'vhdx',
  description: 'Microsoft Hyper-V Virtual Hard Disk v2 (VHDX): fixed and dynamic',
  probe: probeVhdx,
  open: (file, opts) => VhdxImage.open(file, opts),
  create: createVhdx,
};
