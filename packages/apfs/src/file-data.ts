/** A file's (or attribute stream's) bytes from its file extents; holes and the tail past the last extent read as zeros. */
import { CorruptImageError, MappedDevice, type BlockDevice } from '@diskit/core';
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

/** A data stream's bytes from its sorted, checked extents (physical block 0 is a hole). */
export function extentDevice(dev: BlockDevice, blockSize: number, extents: FileExtent[], size: number): BlockDevice {
  return new MappedDevice(dev, extents.map((e) => ({ at: e.logical, length: e.length, from: e.phys === 0 ? undefined : e.phys * blockSize })), size);
}
