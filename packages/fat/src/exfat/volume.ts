/** A mounted exFAT volume: boot region (checksummed), up-case table, bitmap, entry sets, files over chains or contiguous runs. */
import { CorruptImageError, TruncatedImageError, type CheckReport, type Structure, type BlockDevice, type FileEntry, type Volume, type FilesystemDriver } from '@diskit/core';
import { FatTable, type ClusterRun } from '../fat-table.js';
import { clusterFile, dataRuns, type DataRun } from '../cluster-file.js';
import { attributeNames } from '../dirent.js';
import { TreeVolume } from '../tree.js';
import { readBootRegion, isExfatName, type ExfatBoot } from './boot.js';
import { parseEntrySets, type ExfatNode, type RootSpecials } from './entry-set.js';
import { parseUpcase, upcaseName, type Upcase } from './upcase.js';
import { AllocationBitmap } from './bitmap.js';
import { checkExfat } from '../check.js';

/** The spec's limit for a directory (§6.2): 256 MiB; far beyond any real one, so a longer chain is damage. */
const MAX_DIR_BYTES = 256 << 20;
const MAX_UPCASE_BYTES = 128 << 10 | 4096;

export class ExfatVolume extends TreeVolume<ExfatNode> implements Volume {
  readonly type = 'exfat';
  readonly fat: FatTable;
  readonly clusterSize: number;
  readonly heapOffset: number;
  upcase?: Upcase;
  bitmap?: AllocationBitmap;
  label?: string;
  usedBackupBoot = false;
  /** The bitmap's and up-case table's clusters. */
  specialRuns: { name: string; runs: ClusterRun[] }[] = [];

  private constructor(readonly dev: BlockDevice, readonly boot: ExfatBoot) {
    super();
    const ss = 1 << boot.bytesPerSectorShift;
    this.clusterSize = ss << boot.sectorsPerClusterShift;
    this.heapOffset = boot.clusterHeapOffset * ss;
    // The active FAT: VolumeFlags bit 0 picks the second of two (TexFAT).
    const fatIndex = boot.numFats === 2 && boot.volumeFlags & 1 ? 1 : 0;
    this.fat = new FatTable(dev, (boot.fatOffset + fatIndex * boot.fatLength) * ss, 32, boot.clusterCount, true);
    this.dirOwners.set(boot.rootCluster, '/');
  }

  static async mount(dev: BlockDevice): Promise<ExfatVolume> {
    const { boot, backup } = await readBootRegion(dev);
    const vol = new ExfatVolume(dev, boot);
    vol.usedBackupBoot = backup;
    // The root holds the bitmap, up-case table and label entries.
    const specials: RootSpecials = { bitmaps: [] };
    const { data, runs } = await vol.dirBytes(boot.rootCluster, false, undefined, 'root directory');
    parseEntrySets(data, runs, undefined, 'root directory', specials, true);
    const up = specials.upcase;
    if (!up) throw new CorruptImageError('exFAT root directory', vol.clusterOffset(boot.rootCluster), 'an up-case table entry (0x82)', 'none');
    if (up.dataLength === 0 || up.dataLength > MAX_UPCASE_BYTES) throw new CorruptImageError('exFAT up-case table entry', up.offset, `a table of 1..${MAX_UPCASE_BYTES} bytes`, String(up.dataLength));
    // The bitmap and up-case table are contiguous (they have no NoFatChain flag; Linux reads them so too).
    vol.specialRuns.push({ name: 'up-case table', runs: await vol.streamClusters(up.firstCluster, up.dataLength, true, 'up-case table') });
    const table = await vol.readStream(up.firstCluster, up.dataLength, true, 'up-case table');
    vol.upcase = parseUpcase(table, up.checksum, vol.clusterOffset(up.firstCluster));
    const bm = specials.bitmaps.find((b) => (b.flags & 1) === (boot.volumeFlags & 1 && boot.numFats === 2 ? 1 : 0)) ?? specials.bitmaps[0];
    if (!bm) throw new CorruptImageError('exFAT root directory', vol.clusterOffset(boot.rootCluster), 'an allocation bitmap entry (0x81)', 'none');
    vol.specialRuns.push({ name: 'allocation bitmap', runs: await vol.streamClusters(bm.firstCluster, bm.dataLength, true, 'allocation bitmap') });
    const bmRuns = await vol.streamRuns(bm.firstCluster, bm.dataLength, true, 'allocation bitmap');
    vol.bitmap = new AllocationBitmap(dev, bmRuns, boot.clusterCount, bm.offset);
    vol.label = specials.label;
    return vol;
  }

  clusterOffset(c: number): number {
    return this.heapOffset + (c - 2) * this.clusterSize;
  }

  /** Device runs of a stream of `length` bytes from `first`: contiguous (NoFatChain) or along the FAT, checked for length. */
  async streamRuns(first: number, length: number, contiguous: boolean, what: string, entryOffset = -1): Promise<DataRun[]> {
    const runs = await this.streamClusters(first, length, contiguous, what, entryOffset);
    const out = dataRuns(runs, length, this.clusterSize, this.heapOffset);
    for (const r of out) if (r.devOffset + r.length > this.dev.size) throw new TruncatedImageError(what, r.devOffset, r.length, this.dev.size);
    return out;
  }

  /** The clusters of a stream of `length` bytes. */
  async streamClusters(first: number, length: number, contiguous: boolean, what: string, entryOffset = -1): Promise<ClusterRun[]> {
    if (length === 0) return [];
    const needed = Math.ceil(length / this.clusterSize);
    if (!this.fat.isValidCluster(first)) throw new CorruptImageError(`${what}: first cluster`, entryOffset, `a cluster in 2..${this.fat.maxCluster}`, String(first));
    if (needed > this.boot.clusterCount) throw new CorruptImageError(what, entryOffset, `a length within the volume's ${this.boot.clusterCount * this.clusterSize} bytes`, String(length));
    let runs;
    if (contiguous) {
      if (first + needed - 1 > this.fat.maxCluster) throw new CorruptImageError(`${what}: contiguous clusters`, entryOffset, `clusters ${first}..${first + needed - 1} inside the heap (last ${this.fat.maxCluster})`);
      runs = [{ first, count: needed }];
    } else {
      const chain = await this.fat.chain(first, needed, what);
      if (chain.clusters < needed) throw new CorruptImageError(`${what}: cluster chain`, this.fat.entryOffset(first), `${needed} clusters for ${length} bytes`, String(chain.clusters));
      runs = chain.runs;
    }
    return runs;
  }

  /** A file's or directory's clusters, for check. */
  clusterRuns(path: string, n: ExfatNode): Promise<ClusterRun[]> {
    return this.streamClusters(n.firstCluster, n.dataLength, n.noFatChain, n.isDirectory ? `directory ${path}` : `file ${path}`, n.entryOffset);
  }

  private async readStream(first: number, length: number, contiguous: boolean, what: string): Promise<Uint8Array> {
    const runs = await this.streamRuns(first, length, contiguous, what);
    const data = new Uint8Array(length);
    await Promise.all(runs.map((r) => this.dev.read(data.subarray(r.fileOffset, r.fileOffset + r.length), r.devOffset)));
    return data;
  }

  /** A directory's bytes: the root's chain has no length (followed to its end, up to the limit), others have one. */
  private async dirBytes(first: number, contiguous: boolean, length: number | undefined, what: string): Promise<{ data: Uint8Array; runs: DataRun[] }> {
    if (length === undefined) {
      const chain = await this.fat.chain(first, Math.ceil(MAX_DIR_BYTES / this.clusterSize), what);
      if (chain.longer) throw new CorruptImageError(`${what}: cluster chain`, this.fat.entryOffset(first), `at most ${MAX_DIR_BYTES} bytes`, 'a longer chain');
      length = chain.clusters * this.clusterSize;
    }
    if (length > MAX_DIR_BYTES) throw new CorruptImageError(what, -1, `a directory of at most ${MAX_DIR_BYTES} bytes`, String(length));
    const runs = await this.streamRuns(first, length, contiguous, what);
    const data = new Uint8Array(length);
    await Promise.all(runs.map((r) => this.dev.read(data.subarray(r.fileOffset, r.fileOffset + r.length), r.devOffset)));
    return { data, runs };
  }

  protected async readDirectory(path: string, node: ExfatNode | undefined): Promise<{ nodes: ExfatNode[]; problems: CorruptImageError[] }> {
    const what = node ? `directory ${path}` : 'root directory';
    const { data, runs } = node
      ? await this.dirBytes(node.firstCluster, node.noFatChain, node.dataLength, what)
      : await this.dirBytes(this.boot.rootCluster, false, undefined, what);
    return parseEntrySets(data, runs, this.upcase, what, node ? undefined : { bitmaps: [] });
  }

  protected nameOf(n: ExfatNode): string {
    return n.name;
  }
  protected fold(name: string): string {
    return upcaseName(name, this.upcase!);
  }
  protected toEntry(n: ExfatNode, path: string): FileEntry {
    const e: FileEntry = {
      path, name: n.name, type: n.isDirectory ? 'directory' : 'file', size: n.isDirectory ? 0 : n.dataLength,
      attributes: attributeNames(n.attributes),
    };
    if (n.mtime) e.mtime = n.mtime;
    if (n.atime) e.atime = n.atime;
    if (n.ctime) e.birthtime = n.ctime;
    return e;
  }

  /** A file's runs, checked against its data length. */
  async fileRuns(path: string, n: ExfatNode): Promise<DataRun[]> {
    return this.streamRuns(n.firstCluster, n.dataLength, n.noFatChain, `file ${path}`, n.entryOffset);
  }

  async openFile(path: string): Promise<BlockDevice> {
    const { node, path: p } = await this.fileNode(path);
    const runs = await this.fileRuns(p, node);
    return clusterFile(this.dev, runs, node.dataLength, node.validDataLength, `file ${p}`);
  }

  /** Chains sound, no cross-links, every used cluster allocated in the bitmap. */
  check(): Promise<CheckReport> {
    return checkExfat(this);
  }

  /** Boot region, FAT, bitmap, up-case table and root directory, for `dump`. */
  async structures(): Promise<Structure[]> {
    const b = this.boot;
    const ss = 1 << b.bytesPerSectorShift;
    const at = (runs: ClusterRun[]) => (runs[0] ? this.clusterOffset(runs[0].first) : 0);
    const out: Structure[] = [
      { name: 'main boot region', offset: 0, size: 12 * ss, fields: { ...b, checksumSector: 11 } },
      { name: 'backup boot region', offset: 12 * ss, size: 12 * ss, fields: {} },
      { name: 'FAT', offset: this.fat.offset, size: b.fatLength * ss, fields: { entries: b.clusterCount + 2 } },
      ...this.specialRuns.map((s) => ({ name: s.name, offset: at(s.runs), size: s.runs.reduce((n, r) => n + r.count, 0) * this.clusterSize, fields: { runs: s.runs } })),
      { name: 'root directory', offset: this.clusterOffset(b.rootCluster), size: this.clusterSize, fields: { firstCluster: b.rootCluster, label: this.label } },
    ];
    return out;
  }

  async info(): Promise<Record<string, unknown>> {
    const b = this.boot;
    const used = this.bitmap && b.clusterCount <= 1 << 26 ? await this.bitmap.usedClusters() : undefined;
    const serial = `${(b.serial >>> 16).toString(16).padStart(4, '0')}-${(b.serial & 0xffff).toString(16).padStart(4, '0')}`.toUpperCase();
    return {
      label: this.label, serial, revision: `${b.revision >> 8}.${String(b.revision & 0xff).padStart(2, '0')}`,
      sectorSize: 1 << b.bytesPerSectorShift, clusterSize: this.clusterSize, clusterCount: b.clusterCount,
      volumeSize: b.volumeLength * (1 << b.bytesPerSectorShift), dataSize: b.clusterCount * this.clusterSize,
      usedSize: used === undefined ? undefined : used * this.clusterSize,
      freeSize: used === undefined ? undefined : (b.clusterCount - used) * this.clusterSize,
      percentInUse: b.percentInUse === 0xff ? undefined : b.percentInUse, fats: b.numFats,
      volumeDirty: (b.volumeFlags & 2) !== 0, ...(this.usedBackupBoot ? { bootRegion: 'backup (the main boot region is damaged)' } : {}),
    };
  }
}

export async function probeExfat(dev: BlockDevice): Promise<number> {
  if (dev.size < 24 * 512) return 0;
  const s = new Uint8Array(512);
  await dev.read(s, 0);
  return isExfatName(s) && s[510] === 0x55 && s[511] === 0xaa ? 95 : 0;
}

export const exfatFilesystem: FilesystemDriver = {
  name: 'exfat',
  probe: (dev) => probeExfat(dev).catch(() => 0),
  mount: (dev) => ExfatVolume.mount(dev),
};
