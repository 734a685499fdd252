/** The VHDX region tables ('regi', 64 KiB at 192 and 256 KiB): where the BAT and the metadata region lie. */
import {
  ByteWriter, CorruptImageError, Parser, TruncatedImageError, UnsupportedFeatureError, guidToBytes, guidToString, u64,
  type BlockDevice, type Problem,
} from '@diskit/core';
import { GUIDS, GUID_NAMES, MiB, REGION_TABLE_SIZE, VHDX_REGION_OFFSETS, chooseCopy, withCrc } from './layout.js';

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

export interface RegionsRead {
  regions: VhdxRegion[];
  /** Signature and CRC32C of each copy. */
  valid: boolean[];
  /** Each damaged copy, and which one is used instead. */
  warnings: Problem[];
  bat: VhdxRegion;
  metadata: VhdxRegion;
}

/** The first sound copy (else a damaged one whose signature is right), its regions checked against the file. */
export async function readRegionTables(dev: BlockDevice): Promise<RegionsRead> {
  const copies: Uint8Array[] = [];
  for (const off of VHDX_REGION_OFFSETS) {
    const b = new Uint8Array(REGION_TABLE_SIZE);
    await dev.read(b, off);
    copies.push(b);
  }
  const chosen = chooseCopy(copies, 'regi', 4, 'region table', VHDX_REGION_OFFSETS, (a, b) => a - b);
  if (!chosen) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], "a 'regi' table with a valid CRC32C in either copy", 'none');
  const { valid, warnings } = chosen;
  const table = parseRegionTable(copies[chosen.index]!, VHDX_REGION_OFFSETS[chosen.index]!).entries;
  for (const r of table) {
    if (r.guid !== GUIDS.bat && r.guid !== GUIDS.metadata && r.required) {
      // From a copy whose CRC failed, an unknown region is damage, not a feature diskit lacks.
      if (!valid[chosen.index]) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[chosen.index]!, 'known required regions', r.guid);
      throw new UnsupportedFeatureError(`VHDX region ${r.guid} is required but unknown`);
    }
    if (r.fileOffset % MiB || r.fileOffset < MiB) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], 'regions aligned to 1 MiB', `${r.guid} at ${r.fileOffset}`);
    if (r.fileOffset + r.length > dev.size) throw new TruncatedImageError(`VHDX region ${GUID_NAMES[r.guid] ?? r.guid}`, r.fileOffset, r.length, dev.size);
  }
  const bat = table.find((r) => r.guid === GUIDS.bat);
  const metadata = table.find((r) => r.guid === GUIDS.metadata);
  if (!bat || !metadata) throw new CorruptImageError('VHDX region table', VHDX_REGION_OFFSETS[0], 'BAT and metadata regions', table.map((r) => r.guid).join(', '));
  return { regions: table, valid, warnings, bat, metadata };
}
