/**
 * The extents overflow B-tree: a fork's ninth and later extents, eight per record, keyed by
 * (fileID, fork type, first block of the record).
 */
import { CorruptImageError } from '@diskit/core';
import type { BTree } from './btree.js';
import type { ExtentDescriptor, ForkData } from './volume-header.js';
import { MAX_EXTENTS } from './fork.js';

export const FORK_DATA = 0x00;
export const FORK_RESOURCE = 0xff;

function extentKeyComparator(fileID: number, forkType: number, startBlock: number): (key: Uint8Array) => number {
  return (k) => {
    if (k.length < 12) throw new CorruptImageError('HFS+ extents key', 0, 'a 12-byte key', `${k.length} bytes`);
    const id = ((k[4]! << 24) | (k[5]! << 16) | (k[6]! << 8) | k[7]!) >>> 0;
    if (id !== fileID) return id < fileID ? -1 : 1;
    if (k[2] !== forkType) return k[2]! < forkType ? -1 : 1;
    const sb = ((k[8]! << 24) | (k[9]! << 16) | (k[10]! << 8) | k[11]!) >>> 0;
    return sb === startBlock ? 0 : sb < startBlock ? -1 : 1;
  };
}

/** The extents recorded in a fork's own data (up to eight; a zero-length one ends them). */
export function inlineExtents(fork: ForkData): ExtentDescriptor[] {
  const out: ExtentDescriptor[] = [];
  for (const e of fork.extents) {
    if (e.blockCount === 0) break;
    out.push(e);
  }
  return out;
}

/**
 * Every extent of a fork: the eight in its fork data, then the overflow records until the
 * extents hold `totalBlocks` blocks. A missing record is damage, not a short file.
 */
export async function forkExtents(fork: ForkData, fileID: number, forkType: number, overflow: BTree | undefined, where: number): Promise<ExtentDescriptor[]> {
  const out = inlineExtents(fork);
  let blocks = out.reduce((n, e) => n + e.blockCount, 0);
  while (blocks < fork.totalBlocks) {
    if (!overflow || overflow.empty) {
      throw new CorruptImageError('HFS+ fork data', where, `extents for ${fork.totalBlocks} blocks`, `${blocks} blocks and no extents overflow file`);
    }
    if (out.length >= MAX_EXTENTS) throw new CorruptImageError('HFS+ extents overflow', where, `at most ${MAX_EXTENTS} extents for one fork`, 'more');
    const cmp = extentKeyComparator(fileID, forkType, blocks);
    const at = await overflow.seek(cmp);
    const rec = at && overflow.record(at.node, at.index);
    if (!at || !rec || cmp(rec.key) !== 0) {
      throw new CorruptImageError('HFS+ extents overflow', where, `a record for file ${fileID} fork ${forkType} from block ${blocks}`, 'none');
    }
    if (rec.data.length < 64) throw new CorruptImageError('HFS+ extents overflow record', overflow.where(at.node, at.index), '64 bytes of extents', `${rec.data.length} bytes`);
    const v = new DataView(rec.data.buffer, rec.data.byteOffset, 64);
    const before = blocks;
    for (let i = 0; i < 8; i++) {
      const e = { startBlock: v.getUint32(i * 8), blockCount: v.getUint32(i * 8 + 4) };
      if (e.blockCount === 0) break;
      out.push(e);
      blocks += e.blockCount;
    }
    if (blocks === before) throw new CorruptImageError('HFS+ extents overflow record', overflow.where(at.node, at.index), 'at least one extent', 'none');
  }
  return out;
}
