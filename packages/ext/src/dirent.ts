/**
 * Directory blocks: linked dirents (inode, rec_len, name_len, file type, name). An htree directory
 * is also a valid linear one — its index nodes hide inside empty dirents — so every directory is
 * read block by block; only the checksums differ (dirent tail on leaves, dx tail on index nodes).
 */
import { CorruptImageError } from '@diskit/core';
import { extCrc } from './checksum.js';

export interface Dirent {
  ino: number;
  name: string;
  /** The dirent's file type (0 when the filetype feature is off). */
  fileType: number;
}

const utf8 = new TextDecoder('utf-8');
const TAIL_SIZE = 12;
const TAIL_FT = 0xde;
const ZERO4 = new Uint8Array(4);

/**
 * Parse the dirents of one region (a block, or inline data). Entries with inode 0 (free space,
 * htree nodes, the checksum tail) and `.`/`..` are left out; names go to `out`.
 */
export function parseDirents(b: Uint8Array, offset: number, filetype: boolean, inodesCount: number, out: Dirent[], what: string): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 0; p < b.length; ) {
    if (p + 8 > b.length) throw new CorruptImageError(what, offset + p, 'a dirent of at least 8 bytes', `${b.length - p} bytes left`);
    const ino = v.getUint32(p, true);
    const recLen = v.getUint16(p + 4, true);
    const nameLen = filetype ? b[p + 6]! : v.getUint16(p + 6, true);
    if (recLen < 8 || recLen % 4 !== 0 || p + recLen > b.length) {
      throw new CorruptImageError(`${what} dirent`, offset + p, `a record length ≥ 8, a multiple of 4, inside the ${b.length}-byte block`, String(recLen));
    }
    if (ino !== 0) {
      if (nameLen === 0 || 8 + nameLen > recLen) throw new CorruptImageError(`${what} dirent`, offset + p, `a name of 1…${recLen - 8} bytes`, String(nameLen));
      if (ino > inodesCount) throw new CorruptImageError(`${what} dirent`, offset + p, `an inode number ≤ ${inodesCount}`, String(ino));
      const raw = b.subarray(p + 8, p + 8 + nameLen);
      const dot = nameLen <= 2 && raw[0] === 0x2e && (nameLen === 1 || raw[1] === 0x2e);
      if (!dot) out.push({ ino, name: utf8.decode(raw), fileType: filetype ? b[p + 7]! : 0 });
    }
    p += recLen;
  }
}

/** Whether the block ends in the 12-byte dirent tail that carries a leaf's checksum. */
export function hasDirentTail(b: Uint8Array): boolean {
  const t = b.length - TAIL_SIZE;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return t >= 0 && v.getUint32(t, true) === 0 && v.getUint16(t + 4, true) === TAIL_SIZE && b[t + 6] === 0 && b[t + 7] === TAIL_FT;
}

/** Check a leaf block's dirent-tail checksum; `seed` is the directory inode's (uuid, ino, generation). */
export function checkLeafChecksum(b: Uint8Array, seed: number, offset: number, what: string): void {
  const t = b.length - TAIL_SIZE;
  const stored = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(t + 8, true);
  const want = extCrc(seed, b.subarray(0, t));
  if (want !== stored) throw new CorruptImageError(`${what} block checksum`, offset, `0x${want.toString(16)}`, `0x${stored.toString(16)}`);
}

/**
 * If `b` is an htree index block (the root is block 0; inner nodes are one empty dirent spanning
 * the block), where its count/limit sits; else undefined.
 */
export function dxCountOffset(b: Uint8Array, blockIndex: number): number | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (blockIndex === 0) {
    // "." (12 bytes), ".." spanning the rest, then dx_root_info (8 bytes, info_length at +5).
    if (v.getUint16(4, true) !== 12 || v.getUint16(12 + 4, true) !== b.length - 12) return undefined;
    return 0x18 + b[0x18 + 5]!;
  }
  if (v.getUint32(0, true) === 0 && v.getUint16(4, true) === b.length && b[6] === 0) return 8;
  return undefined;
}

/** Check an htree index block's dx_tail checksum (after `limit` entries). */
export function checkDxChecksum(b: Uint8Array, countOffset: number, seed: number, offset: number, what: string): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (countOffset + 4 > b.length) throw new CorruptImageError(`${what} htree node`, offset, 'count and limit inside the block', `offset ${countOffset}`);
  const limit = v.getUint16(countOffset, true);
  const count = v.getUint16(countOffset + 2, true);
  const tail = countOffset + limit * 8;
  if (count > limit || tail + 8 > b.length) throw new CorruptImageError(`${what} htree node`, offset, `count ≤ limit with room for the dx tail`, `count ${count}, limit ${limit}`);
  let c = extCrc(seed, b.subarray(0, countOffset + count * 8));
  c = extCrc(c, b.subarray(tail, tail + 4));
  c = extCrc(c, ZERO4); // the checksum field itself, as zeros
  const stored = v.getUint32(tail + 4, true);
  if (c !== stored) throw new CorruptImageError(`${what} htree node checksum`, offset, `0x${c.toString(16)}`, `0x${stored.toString(16)}`);
}
