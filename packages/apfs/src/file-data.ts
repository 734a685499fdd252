/** A file's (or attribute stream's) bytes from its file extents; holes and the tail past the last extent read as zeros. */
import { CorruptImageError, ReadOnlyDevice, checkRange, extentWindow, type BlockDevice, type Extent } from '@diskit/core';
import type { FileExtent } from './records.js';

export const MAX_EXTENTS = 1 << 20;

/** Check a data stream's extents: in order, not overlapping, inside the container. */
export function checkExtents(extents: FileExtent[], blockSize: number, blockCount: number, what: string, where: number): void {
  let end = 0;
  for (const e of extents) {
    if (e.logical < end) throw new CorruptImageError(`file extent of ${what}`, where, `extents in order without overlap (next at ≥ ${end})`, `logical offset ${e.logical}`);
    if (e.length % blockSize !== 0 || e.length === 0) throw new CorruptImageError(`file extent of ${what}`, where, `a length that is a non-zero multiple of ${blockSize}`, String(e.length));
    if (e.phys !== 0 && e.phys + e.length / blockSize > blockCount) {
      throw new CorruptImageError(`file extent of ${what}`, where, `blocks inside the container (${blockCount} blocks)`, `${e.length / blockSize} blocks at ${e.phys}`);
    }
    end = e.logical + e.length;
  }
}

export class ExtentDevice extends ReadOnlyDevice {
  constructor(
    private readonly dev: BlockDevice,
    private readonly blockSize: number,
    /** Sorted, checked extents. */
    private readonly runs: FileExtent[],
    readonly size: number,
  ) {
    super();
  }

  private first(offset: number): number {
    let lo = 0, hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid]!;
      if (r.logical + r.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const end = offset + into.length;
    let pos = offset;
    for (let i = this.first(offset); i < this.runs.length && pos < end; i++) {
      const r = this.runs[i]!;
      if (r.logical >= end) break;
      if (r.logical > pos) {
        into.fill(0, pos - offset, r.logical - offset);
        pos = r.logical;
      }
      const e = Math.min(end, r.logical + r.length);
      if (r.phys === 0) into.fill(0, pos - offset, e - offset);
      else await this.dev.read(into.subarray(pos - offset, e - offset), r.phys * this.blockSize + (pos - r.logical));
      pos = e;
    }
    if (pos < end) into.fill(0, pos - offset);
  }

  override async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    let pos = start;
    for (let i = this.first(start); i < this.runs.length && pos < end; i++) {
      const r = this.runs[i]!;
      if (r.logical >= end) break;
      if (r.logical > pos) {
        yield { offset: pos, length: r.logical - pos, kind: 'zero' };
        pos = r.logical;
      }
      const e = Math.min(end, r.logical + r.length);
      if (r.phys === 0) yield { offset: pos, length: e - pos, kind: 'zero' };
      else {
        const base = r.phys * this.blockSize - r.logical;
        for await (const x of this.dev.extents(base + pos, e - pos)) yield { offset: x.offset - base, length: x.length, kind: x.kind };
      }
      pos = e;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'zero' };
  }
}

/** Bytes held in memory (inline decmpfs data, embedded attributes). */
export class BytesDevice extends ReadOnlyDevice {
  constructor(private readonly data: Uint8Array) {
    super();
  }
  get size(): number {
    return this.data.length;
  }
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    into.set(this.data.subarray(offset, offset + into.length));
  }
}
