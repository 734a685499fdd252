/** Inodes: 128 bytes (ext2/3) or s_inode_size with the extra fields (ext4 times, checksum high half). */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { extCrc, extCrcU32 } from './checksum.js';
import { hasCsum, type Superblock } from './superblock.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export const FLAG_ENCRYPT = 0x800;
export const FLAG_INDEX = 0x1000;
export const FLAG_HUGE_FILE = 0x40000;
export const FLAG_EXTENTS = 0x80000;
export const FLAG_VERITY = 0x100000;
export const FLAG_EA_INODE = 0x200000;
export const FLAG_INLINE_DATA = 0x10000000;
export const FLAG_CASEFOLD = 0x40000000;

export const ROOT_INO = 2;

export interface Inode {
  readonly ino: number;
  /** Byte offset of the inode in the device, for messages. */
  offset: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** 512-byte sectors (or blocks under HUGE_FILE) the inode holds. */
  blocks: number;
  flags: number;
  generation: number;
  fileAcl: number;
  /** i_block: 60 bytes of block map, extent tree root, fast symlink or inline data. */
  block: Uint8Array;
  atime: Date;
  ctime: Date;
  mtime: Date;
  crtime?: Date;
  /** The in-inode extended attribute area (after i_extra_isize), possibly empty. */
  xattrArea: Uint8Array;
  xattrOffset: number;
}

/**
 * Seconds (signed 32-bit) plus an extra field whose low two bits extend the epoch past 2038 and
 * whose upper 30 bits are nanoseconds, as ext4_decode_extra_time.
 */
function extTime(seconds: number, extra: number | undefined): Date {
  const s = (seconds | 0) + (extra === undefined ? 0 : (extra & 3) * 2 ** 32);
  const ns = extra === undefined ? 0 : extra >>> 2;
  return new Date(s * 1000 + Math.floor(ns / 1e6));
}

/** Nanoseconds of a time field (Date keeps milliseconds only), for listings that want them. */
export function nanos(extra: number | undefined): number {
  return extra === undefined ? 0 : (extra >>> 2) % 1e6;
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/**
 * Decode inode `ino` from its `inodeSize` bytes `b` (kept by reference: cache chunks are never
 * rewritten), verifying its checksum under metadata_csum. Byte reads by hand: this runs once per
 * listed file.
 */
export function parseInode(sb: Superblock, ino: number, b: Uint8Array, offset: number): Inode {
  const extraIsize = b.length > 128 ? u16(b, 0x80) : 0;
  if (b.length > 128 && 128 + extraIsize > b.length) {
    throw new CorruptImageError(`ext inode ${ino} extra size`, offset, `at most ${b.length - 128}`, String(extraIsize));
  }
  const fits = 128 + extraIsize;
  if (hasCsum(sb)) {
    const stored = (u16(b, 0x7c) | (fits >= 0x84 ? u16(b, 0x82) << 16 : 0)) >>> 0;
    const want = inodeChecksum(sb, ino, b, fits >= 0x84);
    if (stored !== want) throw new CorruptImageError(`ext inode ${ino} checksum`, offset, `0x${want.toString(16)}`, `0x${stored.toString(16)}`);
  }
  return new ParsedInode(b, ino, offset, fits);
}

/**
 * The decoded fields. i_block is copied (the table bytes are a cache buffer that is reused); the
 * xattr area only when it holds attributes (magic 0xEA020000).
 */
class ParsedInode implements Inode {
  readonly block: Uint8Array;
  readonly xattrArea: Uint8Array;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly links: number;
  readonly blocks: number;
  readonly flags: number;
  readonly generation: number;
  readonly fileAcl: number;
  readonly atime: Date;
  readonly ctime: Date;
  readonly mtime: Date;
  readonly crtime?: Date;
  readonly xattrOffset: number;

  constructor(b: Uint8Array, readonly ino: number, readonly offset: number, fits: number) {
    this.block = b.slice(0x28, 0x64);
    this.xattrArea = fits + 4 <= b.length && u32(b, fits) === 0xea020000 ? b.slice(fits) : EMPTY;
    this.mode = u16(b, 0x0);
    this.uid = (u16(b, 0x2) | (u16(b, 0x78) << 16)) >>> 0;
    this.gid = (u16(b, 0x18) | (u16(b, 0x7a) << 16)) >>> 0;
    this.size = u32(b, 0x4) + u32(b, 0x6c) * 2 ** 32;
    this.links = u16(b, 0x1a);
    this.blocks = u32(b, 0x1c) + u16(b, 0x74) * 2 ** 32;
    this.flags = u32(b, 0x20);
    this.generation = u32(b, 0x64);
    this.fileAcl = u32(b, 0x68) + u16(b, 0x76) * 2 ** 32;
    this.atime = extTime(u32(b, 0x8), fits >= 0x90 ? u32(b, 0x8c) : undefined);
    this.ctime = extTime(u32(b, 0xc), fits >= 0x88 ? u32(b, 0x84) : undefined);
    this.mtime = extTime(u32(b, 0x10), fits >= 0x8c ? u32(b, 0x88) : undefined);
    if (fits >= 0x94) this.crtime = extTime(u32(b, 0x90), fits >= 0x98 ? u32(b, 0x94) : undefined);
    this.xattrOffset = offset + fits;
  }
}
const EMPTY = new Uint8Array(0);

/** A reused copy of the inode with its checksum fields zeroed: one CRC run, no per-inode views. */
let scratch = new Uint8Array(256);

export function inodeChecksum(sb: Superblock, ino: number, b: Uint8Array, hasHi: boolean): number {
  if (scratch.length < b.length) scratch = new Uint8Array(b.length);
  const s = scratch.length === b.length ? scratch : scratch.subarray(0, b.length);
  s.set(b);
  s[0x7c] = s[0x7d] = 0;
  if (hasHi) s[0x82] = s[0x83] = 0;
  let c = extCrcU32(sb.csumSeed, ino);
  c = extCrcU32(c, u32(b, 0x64));
  c = extCrc(c, s);
  return hasHi ? c : c & 0xffff;
}

/** Refuse inodes whose contents diskit cannot present truthfully. */
export function checkInodeReadable(inode: Inode): void {
  if (inode.flags & FLAG_ENCRYPT) throw new UnsupportedFeatureError(`ext: inode ${inode.ino} is encrypted (encrypt feature) — not supported`);
}

export const isDir = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFDIR;
export const isReg = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFREG;
export const isLink = (i: Inode): boolean => (i.mode & S_IFMT) === S_IFLNK;
