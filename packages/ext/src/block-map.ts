/** ext2/3 block maps: 12 direct pointers in i_block, then single, double and triple indirect blocks. */
import { CorruptImageError } from '@diskit/core';
import { RunList, type MapContext } from './runs.js';
import type { Inode } from './inode.js';

const DIRECT = 12;

/**
 * The runs of a block-mapped inode, as far as its size reaches. Each indirect block may appear
 * once (reuse is a loop or a cross-link) and must lie inside the filesystem, so the work is bounded
 * by the volume's size whatever the pointers say; zero pointers are holes.
 */
export async function blockMapRuns(ctx: MapContext, inode: Inode): Promise<RunList> {
  const what = `ext block map (inode ${inode.ino})`;
  const { sb } = ctx;
  const bs = sb.blockSize;
  const per = bs / 4;
  const list = new RunList(sb, what, inode.offset + 0x28);
  const wanted = Math.ceil(inode.size / bs);
  const seen = new Set<number>();
  const root = new DataView(inode.block.buffer, inode.block.byteOffset, 60);
  const addData = (logical: number, physical: number) => {
    if (physical !== 0 && logical < wanted) list.add(logical, physical, 1, 'data');
  };
  for (let i = 0; i < DIRECT; i++) addData(i, root.getUint32(i * 4, true));

  // level 1: pointers are data blocks; level 2 and 3: pointers to indirect blocks one level down.
  const walk = async (block: number, level: number, first: number, at: number): Promise<void> => {
    if (block === 0 || first >= wanted) return;
    if (block < sb.firstDataBlock || block >= sb.blocksCount) throw new CorruptImageError(`${what} indirect pointer`, at, 'a block inside the filesystem', String(block));
    if (seen.has(block)) throw new CorruptImageError(`${what} indirect pointer`, at, 'each indirect block once', `block ${block} again`);
    seen.add(block);
    const ptrs = new Uint32Array(per);
    const b = await ctx.readBlock(block, `${what} indirect block`);
    const v = new DataView(b.buffer, b.byteOffset, bs);
    for (let i = 0; i < per; i++) ptrs[i] = v.getUint32(i * 4, true);
    const span = per ** (level - 1);
    for (let i = 0; i < per; i++) {
      const p = ptrs[i]!;
      if (p === 0) continue;
      const logical = first + i * span;
      if (logical >= wanted) break;
      if (level === 1) addData(logical, p);
      else await walk(p, level - 1, logical, block * bs + i * 4);
    }
  };
  let first = DIRECT;
  for (let level = 1; level <= 3; level++) {
    await walk(root.getUint32((DIRECT + level - 1) * 4, true), level, first, inode.offset + 0x28 + (DIRECT + level - 1) * 4);
    first += per ** level;
  }
  return list;
}
