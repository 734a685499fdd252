/**
 * `diskit check` for FAT and exFAT: the FAT copies agree, every chain is sound (no loops, no
 * links to free or bad clusters, long enough for its size), no cluster is in two chains
 * (cross-link), and lost clusters and a stale FSInfo / bitmap are reported.
 */
import { isDiskitError, type CheckReport, type CorruptImageError, type Problem } from '@diskit/core';
import type { FatVolume } from './volume.js';
import type { ExfatVolume } from './exfat/volume.js';
import type { ClusterRun, FatTable } from './fat-table.js';

/** One bit per cluster: which clusters some chain already claimed. */
class ClusterMarks {
  private bits: Uint8Array;
  marked = 0;
  constructor(readonly clusterCount: number) {
    this.bits = new Uint8Array((clusterCount + 2 + 7) >>> 3);
  }
  has(c: number): boolean {
    return (this.bits[c >>> 3]! & (1 << (c & 7))) !== 0;
  }
  /** Mark a chain's runs; the first cluster already marked, if any. */
  mark(runs: ClusterRun[]): number | undefined {
    let crossed: number | undefined;
    for (const r of runs) {
      for (let c = r.first; c < r.first + r.count; c++) {
        if (this.has(c)) crossed ??= c;
        else {
          this.bits[c >>> 3]! |= 1 << (c & 7);
          this.marked++;
        }
      }
    }
    return crossed;
  }
}

const MAX_PROBLEMS = 1000;
/** Lost-cluster and free-count scans read the whole FAT: only up to this many clusters. */
const MAX_SCAN = 1 << 24;

class Report {
  problems: Problem[] = [];
  add(severity: Problem['severity'], message: string, offset?: number, structure?: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ severity, message, offset, structure });
  }
  error(e: unknown, fallback: string): void {
    if (!isDiskitError(e)) throw e;
    const c = e as { structure?: string; offset?: number };
    this.add('error', `${fallback}: ${e.message}`, c.offset, c.structure);
  }
}

/** Walk every directory; `visit` gets each entry's path, node, and whether it is a directory. */
async function walkTree<N>(
  report: Report,
  children: (path: string) => Promise<{ list: { path: string; node: N; isDirectory: boolean }[]; problems: CorruptImageError[] }>,
  visit: (path: string, node: N, isDirectory: boolean) => Promise<void>,
): Promise<void> {
  const stack = ['/'];
  while (stack.length) {
    const dir = stack.pop()!;
    let list;
    try {
      const c = await children(dir);
      for (const p of c.problems) report.error(p, `directory ${dir}: entry skipped`);
      list = c.list;
    } catch (e) {
      report.error(e, `directory ${dir} skipped`);
      continue;
    }
    for (const c of list) {
      await visit(c.path, c.node, c.isDirectory);
      if (c.isDirectory) stack.push(c.path);
    }
  }
}

async function claim(report: Report, marks: ClusterMarks, fat: FatTable, path: string, runs: ClusterRun[]): Promise<void> {
  const crossed = marks.mark(runs);
  if (crossed !== undefined) report.add('error', `cross-link: cluster ${crossed} of ${path} is also in another file's or directory's chain`, fat.entryOffset(crossed), 'cluster chain');
}

/** Allocated FAT entries no chain reached. */
async function lostClusters(fat: FatTable, marks: ClusterMarks): Promise<{ lost: number; free: number }> {
  let lost = 0;
  let free = 0;
  for (let c = 2; c <= fat.maxCluster; c++) {
    const v = fat.peek(c) ?? (await fat.get(c));
    if (v === 0) free++;
    else if (v !== fat.bad && !marks.has(c)) lost++;
  }
  return { lost, free };
}

export async function checkFat(vol: FatVolume): Promise<CheckReport> {
  const report = new Report();
  const l = vol.layout;
  if (l.warning) report.add('warning', l.warning, 0, 'FAT boot sector (BPB)');
  // The copies agree (mirrored FATs only: with ExtFlags bit 7 set, only the active one is kept current).
  if (l.activeFat === undefined && vol.fats.length > 1) {
    const a = new Uint8Array(64 << 10);
    const b = new Uint8Array(64 << 10);
    for (let i = 1; i < vol.fats.length; i++) {
      for (let at = 0; at < vol.fat.usedBytes; at += a.length) {
        const n = Math.min(a.length, vol.fat.usedBytes - at);
        await vol.fats[0]!.readRaw(a.subarray(0, n), at);
        await vol.fats[i]!.readRaw(b.subarray(0, n), at);
        const d = a.subarray(0, n).findIndex((x, k) => x !== b[k]);
        if (d >= 0) {
          report.add('error', `FAT copy ${i + 1} differs from copy 1 at byte ${at + d} of the table`, vol.fats[i]!.offset + at + d, 'file allocation table');
          break;
        }
      }
    }
  }
  if (((await vol.fat.get(0)) & 0xff) !== l.raw.media) report.add('warning', `FAT entry 0 does not repeat the media byte 0x${l.raw.media.toString(16)}`, vol.fat.offset, 'file allocation table');
  const marks = new ClusterMarks(l.clusterCount);
  if (l.type === 'FAT32') {
    try {
      await claim(report, marks, vol.fat, '/', (await vol.fat.chain(l.rootCluster, l.clusterCount, 'root directory')).runs);
    } catch (e) {
      report.error(e, 'root directory');
    }
  }
  await walkTree(report, (p) => vol.children(p), async (path, node, isDirectory) => {
    try {
      if (isDirectory) {
        const chain = await vol.fat.chain(node.firstCluster, l.clusterCount, `directory ${path}`);
        await claim(report, marks, vol.fat, path, chain.runs);
        return;
      }
      const chain = await vol.fileChain(path, node, true);
      if (!chain) {
        if (node.firstCluster !== 0) report.add('warning', `${path}: empty file with first cluster ${node.firstCluster}`, node.entryOffset, 'directory entry');
        return;
      }
      await claim(report, marks, vol.fat, path, chain.runs);
      if (chain.longer) report.add('warning', `${path}: the cluster chain is longer than its ${node.size} bytes need`, node.entryOffset, 'directory entry');
    } catch (e) {
      report.error(e, path);
    }
  });
  if (l.clusterCount <= MAX_SCAN) {
    const { lost, free } = await lostClusters(vol.fat, marks);
    if (lost) report.add('warning', `${lost} lost cluster(s): allocated in the FAT but in no chain`, vol.fat.offset, 'file allocation table');
    if (vol.fsInfo?.valid && vol.fsInfo.freeCount !== 0xffffffff && vol.fsInfo.freeCount !== free) {
      report.add('warning', `FSInfo free count ${vol.fsInfo.freeCount}, the FAT has ${free} free clusters`, l.raw.fsInfoSector * l.bytesPerSector + 488, 'FSInfo');
    }
  }
  return { problems: report.problems };
}

export async function checkExfat(vol: ExfatVolume): Promise<CheckReport> {
  const report = new Report();
  const marks = new ClusterMarks(vol.boot.clusterCount);
  const bitmap = vol.bitmap!;
  const claimRuns = async (path: string, runs: ClusterRun[]) => {
    await claim(report, marks, vol.fat, path, runs);
    for (const r of runs) {
      for (let c = r.first; c < r.first + r.count; c++) {
        if (!(await bitmap.isAllocated(c))) {
          report.add('error', `${path}: cluster ${c} is free in the allocation bitmap`, undefined, 'allocation bitmap');
          return;
        }
      }
    }
  };
  try {
    await claimRuns('/', (await vol.fat.chain(vol.boot.rootCluster, vol.boot.clusterCount, 'root directory')).runs);
    for (const s of vol.specialRuns) await claimRuns(s.name, s.runs);
  } catch (e) {
    report.error(e, 'root directory');
  }
  await walkTree(report, (p) => vol.children(p), async (path, node) => {
    try {
      await claimRuns(path, await vol.clusterRuns(path, node));
    } catch (e) {
      report.error(e, path);
    }
  });
  if (vol.boot.clusterCount <= MAX_SCAN) {
    const used = await bitmap.usedClusters();
    if (used > marks.marked) report.add('warning', `${used - marks.marked} cluster(s) marked in use in the bitmap but in no file`, undefined, 'allocation bitmap');
  }
  return { problems: report.problems };
}
