/** A fork (data, resource, B-tree file, attribute) as a read-only device over its extents. */
import {
  CorruptImageError, DeviceRangeError, checkRange, extentWindow,
  type BlockDevice, type Extent,
} from '@diskit/core';
import type { ExtentDescriptor } from './volume-header.js';

/** A fork's bytes [fileOffset, fileOffset+length) live at devOffset in the volume. */
export interface Run {
  fileOffset: number;
  devOffset: number;
  length: number;
}

/** At most this many extents per fork: a cap against hostile overflow chains (real forks have few). */
export const MAX_EXTENTS = 1 << 20;

/**
 * Turn extent descriptors into runs covering `logicalSize` bytes. Every extent must lie inside the
 * volume; the extents must cover the logical size (HFS+ has no holes).
 */
export function runsOf(extents: ExtentDescriptor[], logicalSize: number, blockSize: number, volumeBlocks: number, what: string, where: number): Run[] {
  const runs: Run[] = [];
  let pos = 0;
  for (const e of extents) {
    if (pos >= logicalSize) break;
    if (e.blockCount === 0) continue;
    if (e.startBlock + e.blockCount > volumeBlocks) {
      throw new CorruptImageError(what, where, `an extent inside the volume's ${volumeBlocks} blocks`, `blocks ${e.startBlock}..${e.startBlock + e.blockCount}`);
    }
    const length = Math.min(e.blockCount * blockSize, logicalSize - pos);
    runs.push({ fileOffset: pos, devOffset: e.startBlock * blockSize, length });
    pos += length;
  }
  if (pos < logicalSize) throw new CorruptImageError(what, where, `extents covering its ${logicalSize} bytes`, `${pos} bytes`);
  return runs;
}

export class ForkDevice implements BlockDevice {
  readonly readOnly = true;
  constructor(
    private readonly dev: BlockDevice,
    readonly runs: Run[],
    readonly size: number,
  ) {
    const last = runs[runs.length - 1];
    if (last && last.devOffset + last.length > dev.size) {
      // The volume header promised blocks the device does not have (a cut image).
      throw new CorruptImageError('HFS+ fork extent', last.devOffset, `data inside the device (size ${dev.size})`, `bytes up to ${last.devOffset + last.length}`);
    }
  }

  /** The run holding byte `offset` (runs are sorted and contiguous in file offsets). */
  private find(offset: number): number {
    let lo = 0, hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid]!.fileOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The device offset of a byte of the fork, for error messages. */
  physical(offset: number): number {
    if (this.runs.length === 0) return 0;
    const r = this.runs[this.find(offset)]!;
    return r.devOffset + (offset - r.fileOffset);
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const end = offset + into.length;
    for (let i = this.find(offset), pos = offset; pos < end; i++) {
      const r = this.runs[i]!;
      const n = Math.min(end, r.fileOffset + r.length) - pos;
      await this.dev.read(into.subarray(pos - offset, pos - offset + n), r.devOffset + (pos - r.fileOffset));
      pos += n;
    }
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('files on an HFS+ volume are read-only');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    if (end <= start) return;
    for (let i = this.find(start); i < this.runs.length; i++) {
      const r = this.runs[i]!;
      const s = Math.max(start, r.fileOffset);
      const e = Math.min(end, r.fileOffset + r.length);
      if (s >= end) break;
      if (e <= s) continue;
      for await (const x of this.dev.extents(r.devOffset + (s - r.fileOffset), e - s)) {
        yield { offset: x.offset - r.devOffset + r.fileOffset, length: x.length, kind: x.kind };
      }
    }
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
