/** A file's bytes as a device: runs of the file mapped onto a device, the gaps reading as zeros. */
import { checkRange, extentWindow, ReadOnlyDevice, type BlockDevice, type Extent } from './device.js';
import { TruncatedImageError } from './errors.js';

/** `length` bytes of the file at `at`; from device offset `from`, or zeros (a hole) when absent. */
export interface MappedRun {
  at: number;
  length: number;
  from?: number;
}

export interface MappedOptions {
  /** What the gaps between runs (and the tail past the last) report: some formats call them `unallocated`. */
  gaps?: 'zero' | 'unallocated';
  /** Names the data in the error thrown when a run lies past the device's end. */
  what?: string;
}

/**
 * Runs must be sorted by `at` and not overlap. Runs without `from` are `zero` extents, gaps are
 * `opts.gaps` (`zero`); mapped runs report the device's own extents, so sparse parts stay sparse.
 * A run whose bytes inside the file lie past the device's end is a TruncatedImageError.
 */
export class MappedDevice extends ReadOnlyDevice {
  private readonly gaps: 'zero' | 'unallocated';

  constructor(
    private readonly dev: BlockDevice,
    private readonly runs: readonly MappedRun[],
    readonly size: number,
    opts: MappedOptions = {},
  ) {
    super();
    this.gaps = opts.gaps ?? 'zero';
    for (const r of runs) {
      const length = Math.min(r.length, size - r.at);
      if (r.from !== undefined && length > 0 && r.from + length > dev.size) throw new TruncatedImageError(opts.what ?? 'file data', r.from, length, dev.size);
    }
  }

  /** Index of the first run ending after `pos`. */
  private first(pos: number): number {
    let lo = 0, hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (r.at + r.length <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const end = offset + into.length;
    const reads: Promise<void>[] = [];
    let pos = offset;
    for (let i = this.first(offset); i < this.runs.length && pos < end; i++) {
      const r = this.runs[i]!;
      if (r.at >= end) break;
      const s = Math.max(pos, r.at);
      const e = Math.min(end, r.at + r.length);
      if (s > pos) into.fill(0, pos - offset, s - offset);
      if (r.from === undefined) into.fill(0, s - offset, e - offset);
      else reads.push(this.dev.read(into.subarray(s - offset, e - offset), r.from + (s - r.at)));
      pos = e;
    }
    if (pos < end) into.fill(0, pos - offset);
    await Promise.all(reads);
  }

  override async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    let pos = start;
    for (let i = this.first(start); i < this.runs.length && pos < end; i++) {
      const r = this.runs[i]!;
      if (r.at >= end) break;
      const s = Math.max(pos, r.at);
      const e = Math.min(end, r.at + r.length);
      if (s > pos) yield { offset: pos, length: s - pos, kind: this.gaps };
      if (r.from === undefined) yield { offset: s, length: e - s, kind: 'zero' };
      else for await (const x of this.dev.extents(r.from + (s - r.at), e - s)) yield { offset: x.offset - r.from + r.at, length: x.length, kind: x.kind };
      pos = e;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: this.gaps };
  }
}
