/** A file's data: runs of the image's bytes, read on demand, with the holes between them as zeros. */
import { DeviceRangeError, checkRange, extentWindow, type BlockDevice, type Extent } from '@diskit/core';

/** A file's data as (file offset, device offset, length) runs. */
export interface Run {
  fileOffset: number;
  devOffset: number;
  length: number;
}

/** A file's bytes, read from the image on demand. */
export class FileDataDevice implements BlockDevice {
  readonly readOnly = true;
  constructor(
    private readonly dev: BlockDevice,
    private readonly runs: Run[],
    readonly size: number,
  ) {}

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const end = offset + into.length;
    // Runs are sorted by file offset: binary search the first one that overlaps.
    let lo = 0, hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (r.fileOffset + r.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    let covered = offset;
    for (let i = lo; i < this.runs.length && covered < end; i++) {
      const r = this.runs[i]!;
      if (r.fileOffset > covered) {
        into.fill(0, covered - offset, Math.min(end, r.fileOffset) - offset);
        covered = Math.min(end, r.fileOffset);
        if (covered >= end) break;
      }
      const s = Math.max(covered, r.fileOffset);
      const e = Math.min(end, r.fileOffset + r.length);
      if (e > s) {
        await this.dev.read(into.subarray(s - offset, e - offset), r.devOffset + (s - r.fileOffset));
        covered = e;
      }
    }
    if (covered < end) into.fill(0, covered - offset);
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('files on an ISO9660 volume are read-only');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    let pos = start;
    for (const r of this.runs) {
      const s = Math.max(pos, r.fileOffset);
      const e = Math.min(end, r.fileOffset + r.length);
      if (e <= s) continue;
      if (s > pos) yield { offset: pos, length: s - pos, kind: 'zero' };
      for await (const x of this.dev.extents(r.devOffset + (s - r.fileOffset), e - s)) {
        yield { offset: x.offset - r.devOffset + r.fileOffset, length: x.length, kind: x.kind };
      }
      pos = e;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'zero' };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
