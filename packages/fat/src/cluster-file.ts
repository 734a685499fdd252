/** A file's data as a read-only device over its cluster runs: FAT and exFAT files both read through it. */
import { ReadOnlyDevice, checkRange, extentWindow, TruncatedImageError, type BlockDevice, type Extent } from '@diskit/core';
import type { ClusterRun } from './fat-table.js';

/** A stretch of the file stored contiguously on the device. */
export interface DataRun {
  fileOffset: number;
  devOffset: number;
  length: number;
}

/** Turn cluster runs into device runs covering the first `size` bytes of the chain. */
export function dataRuns(runs: ClusterRun[], size: number, clusterSize: number, dataOffset: number): DataRun[] {
  const out: DataRun[] = [];
  let at = 0;
  for (const r of runs) {
    if (at >= size) break;
    const length = Math.min(r.count * clusterSize, size - at);
    out.push({ fileOffset: at, devOffset: dataOffset + (r.first - 2) * clusterSize, length });
    at += length;
  }
  return out;
}

export class ClusterFile extends ReadOnlyDevice {
  constructor(
    private readonly dev: BlockDevice,
    private readonly runs: DataRun[],
    readonly size: number,
    /** Bytes from here on read as zeros (exFAT's valid data length). */
    readonly validLength = size,
    what = 'file data',
  ) {
    super();
    const last = runs[runs.length - 1];
    if (last && last.devOffset + last.length > dev.size) throw new TruncatedImageError(what, last.devOffset, last.length, dev.size);
    for (const r of runs) if (r.devOffset + r.length > dev.size) throw new TruncatedImageError(what, r.devOffset, r.length, dev.size);
  }

  /** Index of the run holding file offset `pos` (binary search). */
  private runAt(pos: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runs[mid]!.fileOffset <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const end = offset + into.length;
    const dataEnd = Math.min(end, this.validLength);
    if (dataEnd < end) into.fill(0, Math.max(0, dataEnd - offset));
    if (dataEnd <= offset) return;
    const reads: Promise<void>[] = [];
    for (let i = this.runAt(offset), pos = offset; pos < dataEnd; i++) {
      const r = this.runs[i]!;
      const inRun = pos - r.fileOffset;
      const n = Math.min(r.length - inRun, dataEnd - pos);
      reads.push(this.dev.read(into.subarray(pos - offset, pos - offset + n), r.devOffset + inRun));
      pos += n;
    }
    await Promise.all(reads);
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    const dataEnd = Math.max(start, Math.min(end, this.validLength));
    if (dataEnd > start) yield { offset: start, length: dataEnd - start, kind: 'data' };
    if (end > dataEnd) yield { offset: dataEnd, length: end - dataEnd, kind: 'zero' };
  }
}
