/** A file's contents as a read-only device: data runs read straight from the volume, holes as zeros. */
import { ReadOnlyDevice, TruncatedImageError, checkRange, extentWindow, type BlockDevice, type Extent } from '@diskit/core';
import type { Run } from './runs.js';

export class ExtFileDevice extends ReadOnlyDevice {
  constructor(
    private readonly dev: BlockDevice,
    readonly size: number,
    private readonly runs: Run[],
    private readonly blockSize: number,
  ) {
    super();
  }

  /** Index of the first run ending after logical block `block`. */
  private find(block: number): number {
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.runs[mid]!;
      if (r.logical + r.count <= block) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const bs = this.blockSize;
    const end = offset + into.length;
    let pos = offset;
    for (let i = this.find(Math.floor(offset / bs)); pos < end; i++) {
      const r = this.runs[i];
      const runStart = r ? r.logical * bs : end;
      if (runStart > pos) {
        // A hole before the next run.
        const stop = Math.min(end, runStart);
        into.fill(0, pos - offset, stop - offset);
        pos = stop;
        if (pos >= end) break;
      }
      const runEnd = Math.min(end, (r!.logical + r!.count) * bs);
      const part = into.subarray(pos - offset, runEnd - offset);
      if (r!.kind === 'zero') part.fill(0);
      else {
        const at = r!.physical * bs + (pos - r!.logical * bs);
        if (at + part.length > this.dev.size) throw new TruncatedImageError('ext file data', at, part.length, this.dev.size);
        await this.dev.read(part, at);
      }
      pos = runEnd;
    }
  }

  override async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    const bs = this.blockSize;
    let pos = start;
    for (let i = this.find(Math.floor(start / bs)); pos < end; i++) {
      const r = this.runs[i];
      const runStart = r ? Math.max(pos, r.logical * bs) : end;
      if (runStart > pos) {
        const stop = Math.min(end, runStart);
        yield { offset: pos, length: stop - pos, kind: 'unallocated' };
        pos = stop;
        if (pos >= end) break;
      }
      const runEnd = Math.min(end, (r!.logical + r!.count) * bs);
      yield { offset: pos, length: runEnd - pos, kind: r!.kind };
      pos = runEnd;
    }
  }
}
