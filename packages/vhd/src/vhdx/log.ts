/**
 * The VHDX metadata log: a circular buffer of entries ('loge', descriptors, 4 KiB data sectors)
 * holding metadata writes not yet applied. Read-only opens replay it in memory (LogOverlay).
 */
import {
  ByteWriter, CorruptImageError, Parser, ReadOnlyDevice, TruncatedImageError, UnsupportedFeatureError, UsageError,
  ascii, checkRange, guidToBytes, guidToString, isZeroGuid, randomGuid, u64, type BlockDevice,
} from '@diskit/core';
import { roundUp } from '../util.js';
import { MiB, ZERO_GUID, crcOk, withCrc } from './layout.js';
import { readHeaders, writeHeaders, type VhdxHeader } from './header.js';

export const LOG_SECTOR = 4096;

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

/** Replay the log into the file, then clear the log GUID in both headers. */
export async function applyVhdxLog(file: BlockDevice, log: LogEntry[], header: VhdxHeader, headerIndex: number): Promise<void> {
  for (const e of log) {
    for (const op of e.ops) {
      if (op.data) await file.write(op.data, op.fileOffset);
      else {
        const z = new Uint8Array(Math.min(op.zeroLength!, 4 * MiB));
        for (let o = 0; o < op.zeroLength!; o += z.length) await file.write(z.subarray(0, Math.min(z.length, op.zeroLength! - o)), op.fileOffset + o);
      }
    }
    const last = e.header.lastFileOffset;
    if (file.size < last) {
      const end = roundUp(last, MiB);
      await file.write(new Uint8Array(1), end - 1);
    }
  }
  await file.flush();
  await writeHeaders(file, { ...header, logGuid: ZERO_GUID }, headerIndex);
}
