/** Block group descriptors: 32 bytes, or s_desc_size (≥ 64) under the 64bit feature. */
import { CorruptImageError } from '@diskit/core';
import { crc16, extCrc, extCrcU32 } from './checksum.js';
import { INCOMPAT, RO_COMPAT, groupHasSuper, hasCsum, type Superblock } from './superblock.js';

export interface GroupDescriptor {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  flags: number;
  itableUnused: number;
  checksum: number;
  /** CRC32C of the bitmaps under metadata_csum (the high halves only with 64-byte descriptors). */
  blockBitmapCsum: number;
  inodeBitmapCsum: number;
}

export const BG_INODE_UNINIT = 0x1;
export const BG_BLOCK_UNINIT = 0x2;

/**
 * Byte offset of the descriptor of group `g`. The table follows the block holding the superblock
 * copy in use (`superBlock`: block 1 with 1 KiB blocks, else 0, for the primary — also under
 * bigalloc, where s_first_data_block is 0 even with 1 KiB blocks); meta_bg spreads it over groups.
 */
export function descriptorOffset(sb: Superblock, g: number, superBlock = primarySuperBlock(sb)): number {
  const perBlock = sb.blockSize / sb.descSize;
  const metaGroup = Math.floor(g / perBlock);
  if (sb.incompat & INCOMPAT.meta_bg && metaGroup >= sb.firstMetaBg) {
    // The descriptor block of meta group m sits in the first group of m (after its superblock copy).
    const first = metaGroup * perBlock;
    const start = first === 0 ? primarySuperBlock(sb) : sb.firstDataBlock + first * sb.blocksPerGroup;
    const block = start + (groupHasSuper(sb, first) ? 1 : 0);
    return block * sb.blockSize + (g % perBlock) * sb.descSize;
  }
  return (superBlock + 1) * sb.blockSize + g * sb.descSize;
}

export const primarySuperBlock = (sb: Superblock): number => (sb.blockSize === 1024 ? 1 : 0);

/** Decode and check the descriptor of group `g` held in `b` (descSize bytes) read at `offset`. */
export function parseGroupDescriptor(sb: Superblock, g: number, b: Uint8Array, offset: number): GroupDescriptor {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  const wide = sb.descSize >= 64;
  const hi32 = (o: number) => (wide ? u32(o) * 2 ** 32 : 0);
  const hi16 = (o: number) => (wide ? u16(o) << 16 : 0);
  const d: GroupDescriptor = {
    blockBitmap: u32(0x0) + hi32(0x20),
    inodeBitmap: u32(0x4) + hi32(0x24),
    inodeTable: u32(0x8) + hi32(0x28),
    freeBlocks: (u16(0xc) | hi16(0x2c)) >>> 0,
    freeInodes: (u16(0xe) | hi16(0x2e)) >>> 0,
    usedDirs: (u16(0x10) | hi16(0x30)) >>> 0,
    flags: u16(0x12),
    itableUnused: (u16(0x1c) | hi16(0x32)) >>> 0,
    checksum: u16(0x1e),
    blockBitmapCsum: (u16(0x18) | hi16(0x38)) >>> 0,
    inodeBitmapCsum: (u16(0x1a) | hi16(0x3a)) >>> 0,
  };
  const want = descriptorChecksum(sb, g, b);
  if (want !== undefined && want !== d.checksum) {
    throw new CorruptImageError(`ext group descriptor ${g} checksum`, offset, `0x${want.toString(16)}`, `0x${d.checksum.toString(16)}`);
  }
  const tableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  if (d.inodeTable < 1 || d.inodeTable + tableBlocks > sb.blocksCount) {
    throw new CorruptImageError(`ext group descriptor ${g} inode table`, offset, `a block range inside the ${sb.blocksCount} blocks`, `block ${d.inodeTable}`);
  }
  return d;
}

/** The checksum the descriptor should carry: CRC32C's low 16 bits, gdt_csum's CRC16, or none. */
export function descriptorChecksum(sb: Superblock, g: number, b: Uint8Array): number | undefined {
  const size = sb.descSize >= 64 ? sb.descSize : 32;
  const head = b.subarray(0, 0x1e);
  const tail = b.subarray(0x20, size);
  if (hasCsum(sb)) {
    let c = extCrcU32(sb.csumSeed, g);
    c = extCrc(c, head);
    c = extCrc(c, ZERO2);
    c = extCrc(c, tail);
    return c & 0xffff;
  }
  if (sb.roCompat & RO_COMPAT.uninit_bg) {
    let c = crc16(0xffff, sb.uuid);
    const le = new Uint8Array([g & 0xff, (g >>> 8) & 0xff, (g >>> 16) & 0xff, g >>> 24]);
    c = crc16(c, le);
    c = crc16(c, head);
    if (sb.incompat & INCOMPAT['64bit']) c = crc16(c, tail);
    return c;
  }
  return undefined;
}

const ZERO2 = new Uint8Array(2);
