/** A file's block mapping as sorted runs (in filesystem blocks); gaps between runs are holes. */
import { CorruptImageError, MappedDevice, type BlockDevice } from '@diskit/core';
import type { Superblock } from './superblock.js';

export interface Run {
  logical: number;
  /** First physical block (0 for `zero` runs). */
  physical: number;
  count: number;
  /** `data` is on disk; `zero` is allocated but unwritten (an uninitialised extent). */
  kind: 'data' | 'zero';
}

/** What the mapping walkers need from the volume. */
export interface MapContext {
  sb: Superblock;
  /** One filesystem block, through the metadata cache (a view: use before the next await). */
  readBlock(block: number, what: string): Promise<Uint8Array>;
}

/** Collects runs in logical order, merging neighbours and refusing overlaps. */
export class RunList {
  readonly runs: Run[] = [];
  private end = 0;

  constructor(
    private readonly sb: Superblock,
    private readonly what: string,
    private readonly offset: number,
  ) {}

  add(logical: number, physical: number, count: number, kind: 'data' | 'zero'): void {
    if (count <= 0) return;
    if (logical < this.end) {
      throw new CorruptImageError(this.what, this.offset, `blocks in increasing logical order (from ${this.end})`, `block ${logical}`);
    }
    if (kind === 'data' && (physical < this.sb.firstDataBlock || physical + count > this.sb.blocksCount)) {
      throw new CorruptImageError(this.what, this.offset, `blocks inside the filesystem (${this.sb.blocksCount} blocks)`, `${count} at block ${physical}`);
    }
    const last = this.runs[this.runs.length - 1];
    if (last && last.kind === kind && last.logical + last.count === logical && (kind === 'zero' || last.physical + last.count === physical)) {
      last.count += count;
    } else this.runs.push({ logical, physical: kind === 'zero' ? 0 : physical, count, kind });
    this.end = logical + count;
  }
}

/** A file's contents over its runs: holes report `unallocated`, uninitialised extents `zero`. */
export function runsDevice(dev: BlockDevice, size: number, runs: Run[], blockSize: number): BlockDevice {
  const mapped = runs.map((r) => ({ at: r.logical * blockSize, length: r.count * blockSize, from: r.kind === 'data' ? r.physical * blockSize : undefined }));
  return new MappedDevice(dev, mapped, size, { gaps: 'unallocated', what: 'ext file data' });
}
