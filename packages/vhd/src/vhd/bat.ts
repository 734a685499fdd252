/**
 * The VHD block allocation table: one big-endian sector number per block (0xFFFFFFFF = not
 * allocated). Every allocated block starts with a sector bitmap (MSB first, 1 = sector present).
 */
import { TruncatedImageError, type BlockDevice } from '@diskit/core';
import { roundUp } from '../util.js';
import type { VhdDynamicHeader } from './dynamic-header.js';

export const UNALLOCATED = 0xffffffff;

/** Bytes of the sector bitmap in front of each block, padded to a sector. */
export const bitmapSizeOf = (blockSize: number): number => roundUp(Math.ceil(blockSize / 512 / 8), 512);

export async function readBat(file: BlockDevice, h: VhdDynamicHeader): Promise<Uint32Array> {
  const batBytes = h.maxTableEntries * 4;
  if (h.tableOffset + batBytes > file.size) throw new TruncatedImageError('VHD BAT', h.tableOffset, batBytes, file.size);
  const raw = new Uint8Array(batBytes);
  await file.read(raw, h.tableOffset);
  const bat = new Uint32Array(h.maxTableEntries);
  const dv = new DataView(raw.buffer);
  for (let i = 0; i < bat.length; i++) bat[i] = dv.getUint32(i * 4);
  return bat;
}

/** Where the blocks end: after the BAT and after the last allocated block. */
export function blocksEnd(h: VhdDynamicHeader, bat: Uint32Array, blockSize: number): number {
  let end = h.tableOffset + roundUp(bat.length * 4, 512);
  const span = bitmapSizeOf(blockSize) + blockSize;
  for (let i = 0; i < bat.length; i++) {
    if (bat[i] !== UNALLOCATED) end = Math.max(end, bat[i]! * 512 + span);
  }
  return end;
}

export function batSummary(bat: Uint32Array | undefined): Record<string, unknown> {
  if (!bat) return {};
  let allocated = 0;
  for (const e of bat) if (e !== UNALLOCATED) allocated++;
  return { entries: bat.length, allocated, unallocated: bat.length - allocated };
}

/** Runs of sectors [s, e) in a block with the same bitmap bit, covering [from, to) bytes. */
export function bitRuns(bm: Uint8Array, from: number, to: number, fn: (start: number, end: number, set: boolean) => void): void {
  let pos = from;
  while (pos < to) {
    let s = Math.floor(pos / 512);
    const bit = (bm[s >> 3]! >> (7 - (s & 7))) & 1;
    let next = (s + 1) * 512;
    while (next < to) {
      s++;
      // Whole bytes at a time when aligned.
      if ((s & 7) === 0 && bm[s >> 3] === (bit ? 0xff : 0) && next + 4096 <= to) {
        next += 4096;
        s += 7;
        continue;
      }
      if (((bm[s >> 3]! >> (7 - (s & 7))) & 1) !== bit) break;
      next += 512;
    }
    const end = Math.min(next, to);
    fn(pos, end, bit === 1);
    pos = end;
  }
}
