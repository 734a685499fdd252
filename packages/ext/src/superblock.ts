/** The ext2/3/4 superblock: 1024 bytes at byte 1024 (and at the start of each backup group). */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { extCrc } from './checksum.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT_MAGIC = 0xef53;

export const COMPAT = { dir_prealloc: 0x1, imagic_inodes: 0x2, has_journal: 0x4, ext_attr: 0x8, resize_inode: 0x10, dir_index: 0x20, lazy_bg: 0x40, exclude_bitmap: 0x100, sparse_super2: 0x200, fast_commit: 0x400, stable_inodes: 0x800, orphan_file: 0x1000 } as const;
export const INCOMPAT = { compression: 0x1, filetype: 0x2, needs_recovery: 0x4, journal_dev: 0x8, meta_bg: 0x10, extent: 0x40, '64bit': 0x80, mmp: 0x100, flex_bg: 0x200, ea_inode: 0x400, dirdata: 0x1000, metadata_csum_seed: 0x2000, large_dir: 0x4000, inline_data: 0x8000, encrypt: 0x10000, casefold: 0x20000 } as const;
export const RO_COMPAT = { sparse_super: 0x1, large_file: 0x2, btree_dir: 0x4, huge_file: 0x8, uninit_bg: 0x10, dir_nlink: 0x20, extra_isize: 0x40, snapshot: 0x80, quota: 0x100, bigalloc: 0x200, metadata_csum: 0x400, replica: 0x800, read_only: 0x1000, project: 0x2000, shared_blocks: 0x4000, verity: 0x8000, orphan_present: 0x10000 } as const;

/**
 * Incompat features this reader understands. `encrypt` is understood as far as refusing each
 * encrypted inode by name; casefold only with encoding 1 (utf8), whose names are stored as given.
 */
const READABLE_INCOMPAT = INCOMPAT.filetype | INCOMPAT.needs_recovery | INCOMPAT.meta_bg | INCOMPAT.extent | INCOMPAT['64bit'] |
  INCOMPAT.mmp | INCOMPAT.flex_bg | INCOMPAT.ea_inode | INCOMPAT.metadata_csum_seed | INCOMPAT.large_dir | INCOMPAT.inline_data |
  INCOMPAT.encrypt | INCOMPAT.casefold;

export interface Superblock {
  /** Byte offset of this copy in the device. */
  offset: number;
  inodesCount: number;
  blocksCount: number;
  freeBlocks: number;
  freeInodes: number;
  firstDataBlock: number;
  blockSize: number;
  clusterSize: number;
  blocksPerGroup: number;
  clustersPerGroup: number;
  inodesPerGroup: number;
  mtime: number;
  wtime: number;
  state: number;
  revLevel: number;
  minorRevLevel: number;
  creatorOs: number;
  firstIno: number;
  inodeSize: number;
  blockGroupNr: number;
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  label: string;
  lastMounted: string;
  journalInum: number;
  descSize: number;
  firstMetaBg: number;
  mkfsTime: number;
  logGroupsPerFlex: number;
  checksumType: number;
  backupBgs: [number, number];
  checksumSeed: number;
  encoding: number;
  checksum: number;
  /** Number of block groups. */
  groupCount: number;
  /** Seed of every metadata checksum (the UUID's CRC, or s_checksum_seed). */
  csumSeed: number;
}

export function featureNames(sb: Pick<Superblock, 'compat' | 'incompat' | 'roCompat'>): string[] {
  const out: string[] = [];
  const add = (table: Record<string, number>, bits: number, prefix: string) => {
    let known = 0;
    for (const [name, bit] of Object.entries(table)) if (bits & bit) { out.push(name); known |= bit; }
    for (let b = 0; b < 32; b++) if (bits & ~known & (1 << b)) out.push(`${prefix}_0x${((1 << b) >>> 0).toString(16)}`);
  };
  add(COMPAT, sb.compat, 'compat');
  add(INCOMPAT, sb.incompat, 'incompat');
  add(RO_COMPAT, sb.roCompat, 'ro_compat');
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return utf8.decode(end < 0 ? b : b.subarray(0, end));
}

/** Whether 1024 bytes look like a superblock (magic and a sane block size): for probing. */
export function looksLikeSuperblock(b: Uint8Array): boolean {
  if (b.length < SUPERBLOCK_SIZE) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return v.getUint16(0x38, true) === EXT_MAGIC && v.getUint32(0x18, true) <= 6 && v.getUint32(0x20, true) > 0 && v.getUint32(0x28, true) > 0;
}

/**
 * Decode and check a superblock copy found at `offset`. Throws CorruptImageError for a bad magic,
 * impossible geometry or a wrong checksum, UnsupportedFeatureError for incompat features diskit
 * cannot read.
 */
export function parseSuperblock(b: Uint8Array, offset: number, deviceSize: number): Superblock {
  const v = new DataView(b.buffer, b.byteOffset, SUPERBLOCK_SIZE);
  const u16 = (o: number) => v.getUint16(o, true);
  const u32 = (o: number) => v.getUint32(o, true);
  const bad = (what: string, expected: string, found: string | number) => new CorruptImageError(`ext superblock ${what}`, offset, expected, String(found));
  if (u16(0x38) !== EXT_MAGIC) throw bad('magic', '0xef53', `0x${u16(0x38).toString(16)}`);
  const revLevel = u32(0x4c);
  const incompat = revLevel >= 1 ? u32(0x60) : 0;
  const roCompat = revLevel >= 1 ? u32(0x64) : 0;
  const is64 = (incompat & INCOMPAT['64bit']) !== 0;
  const logBlock = u32(0x18);
  if (logBlock > 6) throw bad('block size', 'log2(block size / 1024) ≤ 6', logBlock);
  const blockSize = 1024 << logBlock;
  const logCluster = u32(0x1c);
  const clusterSize = roCompat & RO_COMPAT.bigalloc ? (logCluster < 20 ? 1024 << logCluster : 0) : blockSize;
  if (clusterSize < blockSize) throw bad('cluster size', `at least the block size ${blockSize}`, logCluster);
  const blocksCount = u32(0x4) + (is64 ? u32(0x150) * 2 ** 32 : 0);
  const blocksPerGroup = u32(0x20);
  const inodesPerGroup = u32(0x28);
  const firstDataBlock = u32(0x14);
  const inodeSize = revLevel >= 1 ? u16(0x58) : 128;
  const descSize = is64 ? u16(0xfe) : 32;
  if (blocksPerGroup < 8 || blocksPerGroup > 8 * blockSize * (clusterSize / blockSize)) throw bad('blocks per group', `8 … ${8 * blockSize} per cluster bitmap`, blocksPerGroup);
  if (inodesPerGroup < 1 || inodesPerGroup > 8 * blockSize) throw bad('inodes per group', `1 … ${8 * blockSize}`, inodesPerGroup);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) throw bad('inode size', 'a power of two from 128 to the block size', inodeSize);
  if (is64 && (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)) throw bad('descriptor size', 'a power of two from 64 to 1024', descSize);
  if (firstDataBlock >= blocksCount || blocksCount === 0) throw bad('block count', `more than the first data block ${firstDataBlock}`, blocksCount);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  const inodesCount = u32(0x0);
  if (inodesCount > groupCount * inodesPerGroup) throw bad('inode count', `at most ${groupCount * inodesPerGroup}`, inodesCount);
  // The device may be smaller than the filesystem says (a cut image): reads past it fail then, by name.
  void deviceSize;
  const uuid = b.slice(0x68, 0x78);
  const metadataCsum = (roCompat & RO_COMPAT.metadata_csum) !== 0;
  const checksum = u32(0x3fc);
  if (metadataCsum) {
    if (b[0x175] !== 1) throw bad('checksum type', '1 (crc32c)', b[0x175]!);
    const want = extCrc(0xffffffff, b.subarray(0, 0x3fc));
    if (want !== checksum) throw bad('checksum', `crc32c 0x${want.toString(16)}`, `0x${checksum.toString(16)}`);
  }
  const sb: Superblock = {
    offset, inodesCount, blocksCount,
    freeBlocks: u32(0xc) + (is64 ? u32(0x158) * 2 ** 32 : 0),
    freeInodes: u32(0x10),
    firstDataBlock, blockSize, clusterSize, blocksPerGroup, inodesPerGroup,
    clustersPerGroup: roCompat & RO_COMPAT.bigalloc ? u32(0x24) : blocksPerGroup,
    mtime: u32(0x2c) + b[0x275]! * 2 ** 32,
    wtime: u32(0x30) + b[0x274]! * 2 ** 32,
    state: u16(0x3a), revLevel, minorRevLevel: u16(0x3e), creatorOs: u32(0x48),
    firstIno: revLevel >= 1 ? u32(0x54) : 11,
    inodeSize, blockGroupNr: u16(0x5a),
    compat: revLevel >= 1 ? u32(0x5c) : 0, incompat, roCompat,
    uuid, label: cString(b.subarray(0x78, 0x88)), lastMounted: cString(b.subarray(0x88, 0xc8)),
    journalInum: u32(0xe0), descSize, firstMetaBg: u32(0x104),
    mkfsTime: u32(0x108) + b[0x276]! * 2 ** 32,
    logGroupsPerFlex: b[0x174]!, checksumType: b[0x175]!,
    backupBgs: [u32(0x24c), u32(0x250)],
    checksumSeed: u32(0x270), encoding: u16(0x27c), checksum, groupCount,
    csumSeed: 0,
  };
  sb.csumSeed = incompat & INCOMPAT.metadata_csum_seed ? sb.checksumSeed : extCrc(0xffffffff, uuid);
  return sb;
}

/** Refuse a filesystem whose incompat features diskit cannot read, naming them. */
export function checkFeatures(sb: Superblock): void {
  const unknown = sb.incompat & ~READABLE_INCOMPAT;
  if (unknown) throw new UnsupportedFeatureError(`ext: incompatible feature(s) ${featureNames({ compat: 0, incompat: unknown, roCompat: 0 }).join(', ')} not supported`);
  if (sb.incompat & INCOMPAT.casefold && sb.encoding !== 1) {
    throw new UnsupportedFeatureError(`ext: casefold with filename encoding ${sb.encoding} not supported (only 1, utf8)`);
  }
}

export const hasCsum = (sb: Superblock): boolean => (sb.roCompat & RO_COMPAT.metadata_csum) !== 0;

/** Whether block group `g` holds a superblock backup (and a descriptor table copy). */
export function groupHasSuper(sb: Superblock, g: number): boolean {
  if (g === 0) return true;
  if (sb.compat & COMPAT.sparse_super2) return g === sb.backupBgs[0] || g === sb.backupBgs[1];
  if (g <= 1 || !(sb.roCompat & RO_COMPAT.sparse_super)) return true;
  if (!(g & 1)) return false;
  for (const p of [3, 5, 7]) {
    let n = p;
    while (n < g) n *= p;
    if (n === g) return true;
  }
  return false;
}
