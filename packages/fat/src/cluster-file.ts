/** A file's data as a read-only device over its cluster runs: FAT and exFAT files both read through it. */
import { MappedDevice, type BlockDevice, type MappedRun } from '@diskit/core';
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

/** A file's data over its runs; bytes from `validLength` on read as zeros (exFAT's valid data length). */
export function clusterFile(dev: BlockDevice, runs: DataRun[], size: number, validLength = size, what = 'file data'): BlockDevice {
  const mapped: MappedRun[] = [];
  for (const r of runs) {
    const length = Math.min(r.length, validLength - r.fileOffset);
    if (length > 0) mapped.push({ at: r.fileOffset, length, from: r.devOffset });
  }
  return new MappedDevice(dev, mapped, size, { what });
}
