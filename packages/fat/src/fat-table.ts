/**
 * The File Allocation Table, read through a bounded cache of windows (never the whole table of a
 * big volume), and cluster chains followed with loop detection. Shared by FAT12/16/32 and exFAT.
 */
import { CorruptImageError, TruncatedImageError, type BlockDevice } from '@diskit/core';

/** Consecutive clusters `first` … `first + count - 1` of a chain. */
export interface ClusterRun {
  first: number;
  count: number;
}

export interface Chain {
  runs: ClusterRun[];
  clusters: number;
  /** The chain goes on past the clusters asked for (a file shorter than its chain). */
  longer: boolean;
}

export type FatBits = 12 | 16 | 32;

const WINDOW = 64 << 10;
const MAX_WINDOWS = 32;

export class FatTable {
  /** Entry values at or above this end a chain; `bad` marks a bad cluster. */
  readonly eoc: number;
  readonly bad: number;
  private readonly mask: number;
  /** Bytes of the table that entries 0 … clusterCount+1 use. */
  readonly usedBytes: number;
  private windows = new Map<number, Uint8Array>();

  constructor(
    readonly dev: BlockDevice,
    /** Byte offset of this FAT copy on the device. */
    readonly offset: number,
    readonly bits: FatBits,
    readonly clusterCount: number,
    readonly exfat = false,
  ) {
    this.mask = bits === 12 ? 0xfff : bits === 16 ? 0xffff : exfat ? 0xffffffff : 0x0fffffff;
    this.eoc = this.mask - 7;
    this.bad = this.mask - 8;
    this.usedBytes = Math.ceil(((clusterCount + 2) * bits) / 8);
    if (offset + this.usedBytes > dev.size) throw new TruncatedImageError('file allocation table', offset, this.usedBytes, dev.size);
  }

  /** The last valid cluster number. */
  get maxCluster(): number {
    return this.clusterCount + 1;
  }

  /** The table's bytes [start, start+length) from the cache. FAT12 reads the whole (≤ 6 KiB) table as one window. */
  private async window(index: number): Promise<Uint8Array> {
    let w = this.windows.get(index);
    if (w) {
      // LRU: most recently used last.
      this.windows.delete(index);
      this.windows.set(index, w);
      return w;
    }
    const size = this.bits === 12 ? this.usedBytes : WINDOW;
    const start = index * size;
    w = new Uint8Array(Math.min(size, this.usedBytes - start));
    await this.dev.read(w, this.offset + start);
    if (this.windows.size >= MAX_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(index, w);
    return w;
  }

  /** The entry for `cluster` (masked: FAT32's top four bits are reserved). */
  async get(cluster: number): Promise<number> {
    return this.peek(cluster) ?? this.entryIn(await this.window(this.windowOf(cluster)), cluster);
  }

  private windowOf(cluster: number): number {
    return this.bits === 12 ? 0 : Math.floor((cluster * (this.bits >>> 3)) / WINDOW);
  }

  /** The entry when its window is cached (no await: chains walk at memory speed). */
  peek(cluster: number): number | undefined {
    const w = this.windows.get(this.windowOf(cluster));
    return w && this.entryIn(w, cluster);
  }

  private entryIn(w: Uint8Array, cluster: number): number {
    if (this.bits === 12) {
      const at = cluster + (cluster >>> 1);
      const v = w[at]! | (w[at + 1]! << 8);
      return cluster & 1 ? v >>> 4 : v & 0xfff;
    }
    const bytes = this.bits >>> 3;
    const i = (cluster * bytes) % WINDOW;
    return bytes === 2 ? w[i]! | (w[i + 1]! << 8) : ((w[i]! | (w[i + 1]! << 8) | (w[i + 2]! << 16) | (w[i + 3]! << 24)) & this.mask) >>> 0;
  }

  isValidCluster(c: number): boolean {
    return c >= 2 && c <= this.maxCluster;
  }

  /**
   * Follow a chain from `first` for at most `max` clusters. Free, bad or out-of-range links and
   * loops are `CorruptImageError`s naming `what` and the FAT entry's offset.
   */
  async chain(first: number, max: number, what: string): Promise<Chain> {
    if (!this.isValidCluster(first)) throw new CorruptImageError(`${what}: first cluster`, this.entryOffset(first), `a cluster in 2..${this.maxCluster}`, String(first));
    const runs: ClusterRun[] = [];
    let cur = first;
    let run: ClusterRun = { first, count: 1 };
    let clusters = 1;
    let longer = false;
    for (;;) {
      const next = this.peek(cur) ?? (await this.get(cur));
      if (next >= this.eoc) break;
      if (clusters >= max) {
        longer = true;
        break;
      }
      if (!this.isValidCluster(next)) {
        const kind = next === 0 ? 'a free cluster' : next === this.bad ? 'a bad cluster' : `cluster ${next}`;
        throw new CorruptImageError(`${what}: cluster chain`, this.entryOffset(cur), `a link to a cluster in 2..${this.maxCluster} or end of chain`, kind);
      }
      if (next === cur + 1) run.count++;
      else {
        runs.push(run);
        run = { first: next, count: 1 };
      }
      cur = next;
      clusters++;
    }
    runs.push(run);
    this.checkNoLoop(runs, what);
    return { runs, clusters, longer };
  }

  /** A chain that visits a cluster twice loops: two of its runs overlap. */
  private checkNoLoop(runs: ClusterRun[], what: string): void {
    if (runs.length < 2) return;
    const sorted = runs.slice().sort((a, b) => a.first - b.first);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      if (sorted[i]!.first < prev.first + prev.count) {
        throw new CorruptImageError(`${what}: cluster chain`, this.entryOffset(sorted[i]!.first), 'a chain that visits each cluster once', `a loop through cluster ${sorted[i]!.first}`);
      }
    }
  }

  /** Byte offset of a cluster's entry on the device (for messages). */
  entryOffset(cluster: number): number {
    return this.offset + Math.floor((Math.max(0, Math.min(cluster, this.maxCluster + 1)) * this.bits) / 8);
  }

  /** Read the raw bytes [start, start+length) of the used table, for comparing FAT copies. */
  async readRaw(into: Uint8Array, start: number): Promise<void> {
    await this.dev.read(into, this.offset + start);
  }
}
