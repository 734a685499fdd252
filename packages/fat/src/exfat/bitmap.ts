/** The exFAT allocation bitmap (spec §7.1): one bit per cluster of the heap, read through a small window cache. */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import type { DataRun } from '../cluster-file.js';

const WINDOW = 64 << 10;
const POPCOUNT = new Uint8Array(256).map((_, i) => { let n = 0; for (let x = i; x; x >>= 1) n += x & 1; return n; });

export class AllocationBitmap {
  private windows = new Map<number, Uint8Array>();

  constructor(
    private readonly dev: BlockDevice,
    /** Where the bitmap's bytes are (its cluster runs). */
    private readonly runs: DataRun[],
    readonly clusterCount: number,
    offset: number,
  ) {
    const bytes = runs.reduce((n, r) => n + r.length, 0);
    if (bytes < Math.ceil(clusterCount / 8)) throw new CorruptImageError('exFAT allocation bitmap', offset, `at least ${Math.ceil(clusterCount / 8)} bytes for ${clusterCount} clusters`, String(bytes));
  }

  private async byteAt(i: number): Promise<number> {
    const w = Math.floor(i / WINDOW);
    let win = this.windows.get(w);
    if (!win) {
      win = new Uint8Array(Math.min(WINDOW, Math.ceil(this.clusterCount / 8) - w * WINDOW));
      await this.readBytes(win, w * WINDOW);
      if (this.windows.size >= 16) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(w, win);
    }
    return win[i - w * WINDOW]!;
  }

  private async readBytes(into: Uint8Array, start: number): Promise<void> {
    for (const r of this.runs) {
      const a = Math.max(start, r.fileOffset);
      const b = Math.min(start + into.length, r.fileOffset + r.length);
      if (a < b) await this.dev.read(into.subarray(a - start, b - start), r.devOffset + (a - r.fileOffset));
    }
  }

  /** Is cluster `c` (2-based, as in the FAT) marked in use? */
  async isAllocated(c: number): Promise<boolean> {
    const bit = c - 2;
    return ((await this.byteAt(bit >>> 3)) >> (bit & 7)) & 1 ? true : false;
  }

  /** Clusters marked in use, counted window by window. */
  async usedClusters(): Promise<number> {
    let used = 0;
    const full = Math.floor(this.clusterCount / 8);
    const buf = new Uint8Array(Math.min(WINDOW, Math.max(1, full)));
    for (let start = 0; start < full; start += buf.length) {
      const part = buf.subarray(0, Math.min(buf.length, full - start));
      await this.readBytes(part, start);
      for (let i = 0; i < part.length; i++) used += POPCOUNT[part[i]!]!;
    }
    for (let c = full * 8; c < this.clusterCount; c++) if (await this.isAllocated(c + 2)) used++;
    return used;
  }
}
