/**
 * The `.sparseimage` (UDSP) header node: the file's first 4 KiB. Big-endian. It gives the band
 * size and the disk size, and holds the first 1,008 entries of the band index; more entries
 * sit in index nodes chained from `nextIndexNode` (index-node.ts).
 */
import { ByteWriter, CorruptImageError, Parser, u64 } from '@diskit/core';

export const NODE_SIZE = 4096;
export const SPRS_SECTOR = 512;
export const SPRS = 'sprs';
/** Band entries in the header node: (4096 − 64) / 4. */
export const HEADER_SLOTS = 0x3f0;

export interface SparseHeader {
  version: number;
  sectorsPerBand: number;
  flags: number;
  /** The disk size in sectors: the 64-bit field, or the 32-bit one when that is all there is. */
  sectorCount: number;
  /** File offset of the first index node; 0 when the header holds the whole index. */
  nextIndexNode: number;
  /** 1-based band numbers of the disk, one per band slot in file order; 0 = slot unused. */
  bands: number[];
}

const headerParser = new Parser()
  .endianness('big')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('version')
  .uint32('sectorsPerBand')
  .uint32('flags')
  .uint32('sectorCountLow')
  .uint64('nextIndexNode')
  .uint64('sectorCount')
  .skip(28)
  .array('bands', { type: 'uint32be', length: HEADER_SLOTS });

/** Decode the header node (the first 4096 bytes of the file). */
export function parseSparseHeader(b: Uint8Array): SparseHeader {
  if (b.length < NODE_SIZE) throw new CorruptImageError('sparseimage header', 0, `${NODE_SIZE} bytes`, `${b.length}`);
  const r = headerParser.parse(b.subarray(0, NODE_SIZE)) as Record<string, any>;
  if (r.signature !== SPRS) throw new CorruptImageError('sparseimage header', 0, 'signature "sprs"', JSON.stringify(r.signature));
  const wide = u64(r.sectorCount, 'sparseimage header sector count', 0x1c);
  // Hand-made images (dmg-forensic's) fill only the 32-bit count; hdiutil fills both.
  if (wide !== 0 && wide % 2 ** 32 !== r.sectorCountLow && r.sectorCountLow !== 0) {
    throw new CorruptImageError('sparseimage header sector count', 0x10, `the low 32 bits of ${wide}`, String(r.sectorCountLow));
  }
  return {
    version: r.version,
    sectorsPerBand: r.sectorsPerBand,
    flags: r.flags,
    sectorCount: wide || r.sectorCountLow,
    nextIndexNode: u64(r.nextIndexNode, 'sparseimage header next index node', 0x14),
    bands: r.bands,
  };
}

export function encodeSparseHeader(h: SparseHeader): Uint8Array {
  const w = new ByteWriter(NODE_SIZE)
    .ascii(0, SPRS)
    .u32be(4, h.version)
    .u32be(8, h.sectorsPerBand)
    .u32be(12, h.flags)
    .u32be(16, h.sectorCount % 2 ** 32)
    .u64be(20, h.nextIndexNode)
    .u64be(28, h.sectorCount);
  h.bands.slice(0, HEADER_SLOTS).forEach((b, i) => w.u32be(64 + i * 4, b));
  return w.bytes;
}
