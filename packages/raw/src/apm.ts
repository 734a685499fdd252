/**
 * The Apple Partition Map (Inside Macintosh: Devices): a driver descriptor record in block 0
 * ("ER") and one partition map entry ("PM") per block after it, the map's own entry among them.
 * Hybrid ISOs use 2048-byte blocks; disks and DMGs 512.
 */
import { CorruptImageError, ascii, type BlockDevice, type Partition, type Problem, type Structure } from '@diskit/core';

export interface DriverDescriptor {
  blockSize: number;
  blockCount: number;
  deviceType: number;
  deviceId: number;
  data: number;
  drivers: { block: number; size: number; type: number }[];
}

export interface ApmEntry {
  /** Entries in the map (every entry repeats it). */
  mapBlockCount: number;
  startBlock: number;
  blockCount: number;
  name: string;
  type: string;
  dataStart: number;
  dataCount: number;
  status: number;
  bootStart: number;
  bootSize: number;
  bootAddress: number;
  bootAddress2: number;
  bootEntry: number;
  bootEntry2: number;
  bootChecksum: number;
  processor: string;
  /** Bytes 136..511: reserved, but not always zero (hdiutil leaves a tag there). */
  reserved: Uint8Array;
}

export const APM_DDR_SIGNATURE = 0x4552; // 'ER'
export const APM_ENTRY_SIGNATURE = 0x504d; // 'PM'
/** The map cannot be longer than this: a cap against hostile counts (real maps hold a handful). */
const MAX_ENTRIES = 256;

const cString = (b: Uint8Array, off: number, len: number) => {
  const s = ascii(b, off, len);
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
};

export function parseDriverDescriptor(b: Uint8Array): DriverDescriptor | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 512 || v.getUint16(0) !== APM_DDR_SIGNATURE) return null;
  const count = Math.min(v.getUint16(16), 61); // 8-byte descriptors from byte 18 to the block's end
  const drivers = [];
  for (let i = 0; i < count; i++) drivers.push({ block: v.getUint32(18 + i * 8), size: v.getUint16(22 + i * 8), type: v.getUint16(24 + i * 8) });
  return { blockSize: v.getUint16(2), blockCount: v.getUint32(4), deviceType: v.getUint16(8), deviceId: v.getUint16(10), data: v.getUint32(12), drivers };
}

export function parseApmEntry(b: Uint8Array): ApmEntry | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 512 || v.getUint16(0) !== APM_ENTRY_SIGNATURE) return null;
  return {
    mapBlockCount: v.getUint32(4), startBlock: v.getUint32(8), blockCount: v.getUint32(12),
    name: cString(b, 16, 32), type: cString(b, 48, 32),
    dataStart: v.getUint32(80), dataCount: v.getUint32(84), status: v.getUint32(88),
    bootStart: v.getUint32(92), bootSize: v.getUint32(96), bootAddress: v.getUint32(100), bootAddress2: v.getUint32(104),
    bootEntry: v.getUint32(108), bootEntry2: v.getUint32(112), bootChecksum: v.getUint32(116), processor: cString(b, 120, 16),
    reserved: b.slice(136, 512),
  };
}

function putString(b: Uint8Array, off: number, len: number, s: string): void {
  for (let i = 0; i < Math.min(s.length, len); i++) b[off + i] = s.charCodeAt(i) & 0xff;
}

/** The 512-byte driver descriptor record (the rest of block 0 zero). */
export function encodeDriverDescriptor(d: DriverDescriptor): Uint8Array {
  const b = new Uint8Array(512);
  const v = new DataView(b.buffer);
  v.setUint16(0, APM_DDR_SIGNATURE); v.setUint16(2, d.blockSize); v.setUint32(4, d.blockCount);
  v.setUint16(8, d.deviceType); v.setUint16(10, d.deviceId); v.setUint32(12, d.data); v.setUint16(16, d.drivers.length);
  d.drivers.forEach((x, i) => { v.setUint32(18 + i * 8, x.block); v.setUint16(22 + i * 8, x.size); v.setUint16(24 + i * 8, x.type); });
  return b;
}

/** A 512-byte partition map entry. */
export function encodeApmEntry(e: ApmEntry): Uint8Array {
  const b = new Uint8Array(512);
  const v = new DataView(b.buffer);
  v.setUint16(0, APM_ENTRY_SIGNATURE); v.setUint32(4, e.mapBlockCount); v.setUint32(8, e.startBlock); v.setUint32(12, e.blockCount);
  putString(b, 16, 32, e.name); putString(b, 48, 32, e.type);
  const u = [e.dataStart, e.dataCount, e.status, e.bootStart, e.bootSize, e.bootAddress, e.bootAddress2, e.bootEntry, e.bootEntry2, e.bootChecksum];
  u.forEach((x, i) => v.setUint32(80 + i * 4, x));
  putString(b, 120, 16, e.processor);
  b.set(e.reserved.subarray(0, 376), 136);
  return b;
}

export interface ApmResult {
  ddr: DriverDescriptor;
  blockSize: number;
  entries: ApmEntry[];
  partitions: Partition[];
  problems: Problem[];
  structures: Structure[];
}

/**
 * The block size of the map's entries: the driver descriptor's when an entry sits there, else 512
 * (some CD images say 2048 in block 0 but keep 512-byte entries).
 */
async function entryBlockSize(dev: BlockDevice, ddr: DriverDescriptor): Promise<number | null> {
  const b = new Uint8Array(2);
  for (const size of new Set([ddr.blockSize, 512, 2048])) {
    if (size < 512 || size % 512 !== 0 || size * 2 > dev.size) continue;
    await dev.read(b, size);
    if (((b[0]! << 8) | b[1]!) === APM_ENTRY_SIGNATURE) return size;
  }
  return null;
}

/** Read an Apple Partition Map, or null when block 0 holds no "ER" record followed by a "PM" entry. */
export async function readApm(dev: BlockDevice): Promise<ApmResult | null> {
  if (dev.size < 1024) return null;
  const block0 = new Uint8Array(512);
  await dev.read(block0, 0);
  const ddr = parseDriverDescriptor(block0);
  if (!ddr) return null;
  const blockSize = await entryBlockSize(dev, ddr);
  if (blockSize === null) return null;
  const structures: Structure[] = [{ name: 'APM driver descriptor', offset: 0, size: 512, fields: { ...ddr } }];
  const problems: Problem[] = [];
  const entries: ApmEntry[] = [];
  const partitions: Partition[] = [];
  const raw = new Uint8Array(512);
  let count = 1;
  for (let i = 1; i <= count; i++) {
    const off = i * blockSize;
    if (off + 512 > dev.size) throw new CorruptImageError('APM partition map', off, `${count} entries inside the disk`, `disk ends at ${dev.size}`);
    await dev.read(raw, off);
    const e = parseApmEntry(raw);
    if (!e) throw new CorruptImageError('APM partition map entry', off, "signature 'PM'", `0x${((raw[0]! << 8) | raw[1]!).toString(16)}`);
    if (i === 1) {
      if (e.mapBlockCount < 1 || e.mapBlockCount > MAX_ENTRIES) {
        throw new CorruptImageError('APM partition map entry', off + 4, `a map of 1..${MAX_ENTRIES} entries`, String(e.mapBlockCount));
      }
      count = e.mapBlockCount;
    } else if (e.mapBlockCount !== count) {
      problems.push({ severity: 'warning', structure: 'APM partition map entry', offset: off + 4, message: `entry ${i} says the map has ${e.mapBlockCount} entries, entry 1 says ${count}` });
    }
    entries.push(e);
    const { reserved: _reserved, ...fields } = e;
    structures.push({ name: `APM entry ${i}`, offset: off, size: 512, fields });
    const start = e.startBlock * blockSize;
    const size = e.blockCount * blockSize;
    if (e.blockCount === 0) continue;
    // Entries past the image's end stay listed (marked by readPartitionTable), as for MBR and GPT.
    partitions.push({ index: i, start, size, type: e.type, name: e.name, scheme: 'apm' });
  }
  return { ddr, blockSize, entries, partitions, problems, structures };
}
