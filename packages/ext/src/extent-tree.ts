/** ext4 extent trees: a 12-byte header, then index entries (interior) or extents (leaves); i_block is the root. */
import { CorruptImageError } from '@diskit/core';
import { extCrc, extCrcU32 } from './checksum.js';
import { hasCsum } from './superblock.js';
import { RunList, type MapContext } from './runs.js';
import type { Inode } from './inode.js';

export const EXTENT_MAGIC = 0xf30a;
/** The kernel never builds deeper trees (ext4_ext_check: depth ≤ EXT4_MAX_EXTENT_DEPTH). */
export const MAX_DEPTH = 5;
const INIT_MAX_LEN = 32768;

export interface ExtentHeader {
  entries: number;
  max: number;
  depth: number;
}

export function parseExtentHeader(b: Uint8Array, what: string, offset: number): ExtentHeader {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = v.getUint16(0, true);
  if (magic !== EXTENT_MAGIC) throw new CorruptImageError(`${what} header`, offset, 'magic 0xf30a', `0x${magic.toString(16)}`);
  const h = { entries: v.getUint16(2, true), max: v.getUint16(4, true), depth: v.getUint16(6, true) };
  const room = Math.floor((b.length - 12) / 12);
  if (h.max > room || h.entries > h.max) throw new CorruptImageError(`${what} header`, offset, `entries ≤ max ≤ ${room}`, `${h.entries} of ${h.max}`);
  if (h.depth > MAX_DEPTH) throw new CorruptImageError(`${what} header`, offset, `depth ≤ ${MAX_DEPTH}`, String(h.depth));
  return h;
}

/** The checksum at the end of a non-root extent block (after eh_max entries) under metadata_csum. */
function checkExtentBlock(ctx: MapContext, inode: Inode, b: Uint8Array, max: number, offset: number): void {
  const tail = 12 + 12 * max;
  if (tail + 4 > b.length) throw new CorruptImageError('ext extent block', offset, 'room for its checksum', `max ${max}`);
  const stored = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(tail, true);
  let c = extCrcU32(ctx.sb.csumSeed, inode.ino);
  c = extCrcU32(c, inode.generation);
  c = extCrc(c, b.subarray(0, tail));
  if (c !== stored) throw new CorruptImageError(`ext extent block checksum (inode ${inode.ino})`, offset, `0x${c.toString(16)}`, `0x${stored.toString(16)}`);
}

/**
 * Every extent of `inode` in logical order. Interior blocks are each visited once (a block seen
 * twice is a loop), each level is exactly one less deep than its parent, and children must start
 * at or after their index key: a hostile tree ends in a CorruptImageError, not a hang.
 */
export async function extentRuns(ctx: MapContext, inode: Inode): Promise<RunList> {
  const what = `ext extent tree (inode ${inode.ino})`;
  const list = new RunList(ctx.sb, what, inode.offset + 0x28);
  const seen = new Set<number>();
  const bs = ctx.sb.blockSize;
  const visit = async (node: Uint8Array, offset: number, expectDepth: number | undefined, minLogical: number): Promise<void> => {
    const h = parseExtentHeader(node, what, offset);
    if (expectDepth !== undefined && h.depth !== expectDepth) throw new CorruptImageError(`${what} node`, offset, `depth ${expectDepth}`, String(h.depth));
    const v = new DataView(node.buffer, node.byteOffset, node.byteLength);
    if (h.depth === 0) {
      for (let i = 0; i < h.entries; i++) {
        const o = 12 + i * 12;
        const logical = v.getUint32(o, true);
        let len = v.getUint16(o + 4, true);
        const uninit = len > INIT_MAX_LEN;
        if (uninit) len -= INIT_MAX_LEN;
        const physical = v.getUint16(o + 6, true) * 2 ** 32 + v.getUint32(o + 8, true);
        if (logical < minLogical) throw new CorruptImageError(`${what} extent`, offset + o, `logical block ≥ ${minLogical}`, String(logical));
        if (len === 0) continue;
        if (uninit && (physical < ctx.sb.firstDataBlock || physical + len > ctx.sb.blocksCount)) {
          throw new CorruptImageError(`${what} extent`, offset + o, 'blocks inside the filesystem', `${len} at block ${physical}`);
        }
        list.add(logical, physical, len, uninit ? 'zero' : 'data');
      }
      return;
    }
    // Interior: copy the entries first — the node's bytes are a cache view that the next read may evict.
    const kids: [number, number][] = [];
    for (let i = 0; i < h.entries; i++) {
      const o = 12 + i * 12;
      kids.push([v.getUint32(o, true), v.getUint16(o + 8, true) * 2 ** 32 + v.getUint32(o + 4, true)]);
    }
    for (let i = 0; i < kids.length; i++) {
      const [logical, block] = kids[i]!;
      if (logical < minLogical || (i > 0 && logical <= kids[i - 1]![0])) throw new CorruptImageError(`${what} index`, offset + 12 + i * 12, `keys in increasing order from ${minLogical}`, String(logical));
      if (seen.has(block)) throw new CorruptImageError(`${what} index`, offset + 12 + i * 12, 'each tree block once (no loops)', `block ${block} again`);
      if (block < ctx.sb.firstDataBlock || block >= ctx.sb.blocksCount) throw new CorruptImageError(`${what} index`, offset + 12 + i * 12, 'a block inside the filesystem', String(block));
      seen.add(block);
      const child = (await ctx.readBlock(block, `${what} block`)).slice();
      const childHeader = parseExtentHeader(child, what, block * bs);
      if (hasCsum(ctx.sb)) checkExtentBlock(ctx, inode, child, childHeader.max, block * bs);
      await visit(child, block * bs, h.depth - 1, logical);
    }
  };
  await visit(inode.block, inode.offset + 0x28, undefined, 0);
  return list;
}
