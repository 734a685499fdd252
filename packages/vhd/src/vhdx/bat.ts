/**
 * The VHDX block allocation table: 64-bit entries (state in bits 0-2, FileOffsetMB in bits
 * 20-63), a sector bitmap entry after every chunk of `chunkRatio` payload blocks.
 */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import { MiB } from './layout.js';
import type { VhdxRegion } from './region-table.js';

export const PAYLOAD_STATES = ['NOT_PRESENT', 'UNDEFINED', 'ZERO', 'UNMAPPED', '4?', '5?', 'FULLY_PRESENT', 'PARTIALLY_PRESENT'] as const;
export const PAYLOAD_ZERO = 2;
export const FULLY_PRESENT = 6;
export const PARTIALLY_PRESENT = 7;

/** Payload blocks per sector bitmap block. */
export const chunkRatioOf = (logicalSectorSize: number, blockSize: number): number => (2 ** 23 * logicalSectorSize) / blockSize;

/** BAT entries: payload blocks with a sector bitmap entry after every chunk (all of them when differencing). */
export function batEntries(payload: number, chunkRatio: number, differencing: boolean): number {
  if (payload === 0) return 0;
  if (differencing) return Math.ceil(payload / chunkRatio) * (chunkRatio + 1);
  return payload + Math.floor((payload - 1) / chunkRatio);
}

/** BAT index of payload block `blk`. */
export const batIndexOf = (blk: number, chunkRatio: number): number => blk + Math.floor(blk / chunkRatio);

/** Whether BAT entry `i` is a sector bitmap entry. */
export const isBitmapEntry = (i: number, chunkRatio: number): boolean => (i + 1) % (chunkRatio + 1) === 0;

export interface VhdxBat {
  states: Uint8Array;
  /** FileOffsetMB of each entry. */
  offsets: Float64Array;
}

export async function readBat(dev: BlockDevice, batR: VhdxRegion, total: number): Promise<VhdxBat> {
  if (total * 8 > batR.length) throw new CorruptImageError('VHDX BAT region', batR.fileOffset, `room for ${total} entries`, `${batR.length} bytes`);
  const raw = new Uint8Array(total * 8);
  await dev.read(raw, batR.fileOffset);
  const dv = new DataView(raw.buffer);
  const states = new Uint8Array(total);
  const offsets = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    const lo = dv.getUint32(i * 8, true);
    const hi = dv.getUint32(i * 8 + 4, true);
    states[i] = lo & 7;
    // FileOffsetMB: bits 20..63.
    offsets[i] = hi * 4096 + (lo >>> 20);
  }
  return { states, offsets };
}

/** Encode entry `i` (a state and a 1 MiB-aligned file offset) into a BAT buffer's view. */
export function setBatEntry(view: DataView, i: number, state: number, fileOffset: number): void {
  const mb = fileOffset / MiB;
  view.setUint32(i * 8, ((mb & 0xfff) << 20) | state, true);
  view.setUint32(i * 8 + 4, Math.floor(mb / 4096), true);
}

export function batSummary(bat: VhdxBat, chunkRatio: number, payloadBlocks: number): Record<string, unknown> {
  const counts: Record<string, number> = {};
  let bitmaps = 0;
  for (let i = 0; i < bat.states.length; i++) {
    if (isBitmapEntry(i, chunkRatio)) {
      if (bat.states[i]) bitmaps++;
      continue;
    }
    const s = PAYLOAD_STATES[bat.states[i]!]!;
    counts[s] = (counts[s] ?? 0) + 1;
  }
  return { entries: bat.states.length, payloadBlocks, chunkRatio, states: counts, sectorBitmapsPresent: bitmaps };
}

/** Runs [start, end) (bytes within a block) whose sectors are present in this file or not (bitmap LSB first). */
export function bitRuns(bm: Uint8Array | undefined, ss: number, from: number, to: number): [number, number, boolean][] {
  if (!bm) return [[from, to, false]];
  const out: [number, number, boolean][] = [];
  const bit = (s: number) => ((bm[s >> 3]! >> (s & 7)) & 1) === 1;
  let pos = from;
  while (pos < to) {
    const v = bit(Math.floor(pos / ss));
    let next = (Math.floor(pos / ss) + 1) * ss;
    while (next < to) {
      const s = next / ss;
      if ((s & 7) === 0 && next + 8 * ss <= to && bm[s >> 3] === (v ? 0xff : 0)) {
        next += 8 * ss;
        continue;
      }
      if (bit(s) !== v) break;
      next += ss;
    }
    const end = Math.min(next, to);
    out.push([pos, end, v]);
    pos = end;
  }
  return out;
}
