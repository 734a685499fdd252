/**
 * The VHDX metadata region: a 64 KiB table ('metadata') of items, then the items: file
 * parameters (block size, fixed, has parent), virtual disk size and id, sector sizes, parent locator.
 */
import {
  ByteWriter, CorruptImageError, Parser, UnsupportedFeatureError, guidToBytes, guidToString, randomGuid, u64, type BlockDevice,
} from '@diskit/core';
import { isPow2 } from '../util.js';
import { GUIDS, GUID_NAMES, KiB, MiB } from './layout.js';
import { parseParentLocator, type VhdxParentLocator } from './parent-locator.js';
import type { VhdxRegion } from './region-table.js';

export interface VhdxMetadataEntry {
  itemId: string;
  offset: number;
  length: number;
  isUser: boolean;
  isVirtualDisk: boolean;
  isRequired: boolean;
}

/** The metadata items diskit reads, decoded and checked. */
export interface VhdxMetadata {
  entries: VhdxMetadataEntry[];
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  size: number;
  diskId: string;
  logicalSectorSize: number;
  physicalSectorSize: number;
  parentLocator?: VhdxParentLocator;
}

const metaHeaderParser = new Parser().endianness('little')
  .string('signature', { length: 8, encoding: 'latin1' }).uint16('reserved').uint16('entryCount');
const metaEntryParser = new Parser().endianness('little')
  .buffer('itemId', { length: 16 }).uint32('offset').uint32('length').uint32('flags');

export async function readMetadata(dev: BlockDevice, metaR: VhdxRegion): Promise<VhdxMetadata> {
  if (metaR.length < 64 * KiB) throw new CorruptImageError('VHDX metadata region', metaR.fileOffset, 'at least 64 KiB', String(metaR.length));
  const mt = new Uint8Array(64 * KiB);
  await dev.read(mt, metaR.fileOffset);
  const mh = metaHeaderParser.parse(mt.subarray(0, 12));
  if (mh.signature !== 'metadata') throw new CorruptImageError('VHDX metadata table', metaR.fileOffset, "signature 'metadata'", JSON.stringify(mh.signature));
  if (mh.entryCount > 2047) throw new CorruptImageError('VHDX metadata table', metaR.fileOffset + 10, 'at most 2047 entries', String(mh.entryCount));
  const entries: VhdxMetadataEntry[] = [];
  const items = new Map<string, Uint8Array>();
  for (let i = 0; i < mh.entryCount; i++) {
    const e = metaEntryParser.parse(mt.subarray(32 + i * 32, 64 + i * 32));
    const entry: VhdxMetadataEntry = {
      itemId: guidToString(e.itemId), offset: e.offset, length: e.length,
      isUser: !!(e.flags & 1), isVirtualDisk: !!(e.flags & 2), isRequired: !!(e.flags & 4),
    };
    entries.push(entry);
    if (entry.length === 0) continue;
    if (entry.offset < 64 * KiB || entry.offset + entry.length > metaR.length || entry.length > MiB) {
      throw new CorruptImageError('VHDX metadata entry', metaR.fileOffset + 32 + i * 32, `an item inside the metadata region (${metaR.length} bytes)`, `offset ${entry.offset}, length ${entry.length}`);
    }
    if (!GUID_NAMES[entry.itemId]) {
      if (entry.isRequired) throw new UnsupportedFeatureError(`VHDX metadata item ${entry.itemId} is required but unknown`);
      continue; // listed by inspect, never read: what is read stays bounded (each known item once, ≤ 1 MiB)
    }
    if (items.has(entry.itemId)) {
      throw new CorruptImageError('VHDX metadata entry', metaR.fileOffset + 32 + i * 32, `item ${GUID_NAMES[entry.itemId]} listed once`, 'listed again');
    }
    const b = new Uint8Array(entry.length);
    await dev.read(b, metaR.fileOffset + entry.offset);
    items.set(entry.itemId, b);
  }
  const need = (id: string, len: number): DataView => {
    const b = items.get(id);
    if (!b || b.length < len) throw new CorruptImageError('VHDX metadata', metaR.fileOffset, `item ${GUID_NAMES[id]} (${id})`, b ? `${b.length} bytes` : 'missing');
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const fp = need(GUIDS.fileParameters, 8);
  const m: VhdxMetadata = {
    entries,
    blockSize: fp.getUint32(0, true),
    leaveBlocksAllocated: !!(fp.getUint32(4, true) & 1),
    hasParent: !!(fp.getUint32(4, true) & 2),
    size: u64(need(GUIDS.virtualDiskSize, 8).getBigUint64(0, true), 'VHDX virtual disk size', metaR.fileOffset),
    diskId: guidToString(new Uint8Array(need(GUIDS.virtualDiskId, 16).buffer, items.get(GUIDS.virtualDiskId)!.byteOffset, 16)),
    logicalSectorSize: need(GUIDS.logicalSectorSize, 4).getUint32(0, true),
    physicalSectorSize: need(GUIDS.physicalSectorSize, 4).getUint32(0, true),
  };
  if (!isPow2(m.blockSize) || m.blockSize < MiB || m.blockSize > 256 * MiB) throw new CorruptImageError('VHDX file parameters', metaR.fileOffset, 'a block size from 1 MiB to 256 MiB, power of two', String(m.blockSize));
  if (m.logicalSectorSize !== 512 && m.logicalSectorSize !== 4096) throw new CorruptImageError('VHDX logical sector size', metaR.fileOffset, '512 or 4096', String(m.logicalSectorSize));
  if (m.physicalSectorSize !== 512 && m.physicalSectorSize !== 4096) throw new CorruptImageError('VHDX physical sector size', metaR.fileOffset, '512 or 4096', String(m.physicalSectorSize));
  if (m.size % m.logicalSectorSize || m.size > 64 * 2 ** 40) throw new CorruptImageError('VHDX virtual disk size', metaR.fileOffset, 'a multiple of the logical sector size up to 64 TiB', String(m.size));
  const pl = items.get(GUIDS.parentLocator);
  if (pl) m.parentLocator = parseParentLocator(pl, metaR.fileOffset);
  return m;
}

/** A new metadata region's first bytes: the table, then the items from 64 KiB in. */
export function encodeMetadata(p: { blockSize: number; size: number; logicalSectorSize: number; physicalSectorSize: number }, leaveAllocated: boolean, parentLocator?: Uint8Array, diskId?: string): Uint8Array {
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
  return meta;
}
