/** A mounted FAT12/16/32 volume: directories read on demand through a bounded cache, files as devices over their chains. */
import { CorruptImageError, TruncatedImageError, UsageError, type CheckReport, type Structure, type BlockDevice, type FileEntry, type Volume, type FilesystemDriver } from '@diskit/core';
import { fatLayout, dos1Layout, decodeBpb, bpbProblem, bpbFields, type FatLayout } from './bpb.js';
import { parseFsInfo, type FsInfo } from './fsinfo.js';
import { FatTable, type Chain } from './fat-table.js';
import { clusterFile, dataRuns, type DataRun } from './cluster-file.js';
import { parseDirectory, nodeName, type DirNode } from './directory.js';
import { attributeNames, type CodePage } from './dirent.js';
import { TreeVolume } from './tree.js';
import { checkFat } from './check.js';

/** The spec's limit: a directory holds at most 65,536 entries. */
const MAX_DIR_BYTES = 65536 * 32;

export class FatVolume extends TreeVolume<DirNode> implements Volume {
  readonly type = 'fat';
  readonly fats: FatTable[];
  fsInfo?: FsInfo;
  private rootLabel?: string;

  private constructor(readonly dev: BlockDevice, readonly layout: FatLayout, readonly codepage: CodePage = 437) {
    super();
    const bits = layout.type === 'FAT12' ? 12 : layout.type === 'FAT16' ? 16 : 32;
    this.fats = [];
    for (let i = 0; i < layout.numFats; i++) {
      this.fats.push(new FatTable(dev, layout.fatOffset + i * layout.fatSectors * layout.bytesPerSector, bits, layout.clusterCount));
    }
  }

  /** The FAT that reading follows: the active one, or the first of mirrored copies. */
  get fat(): FatTable {
    return this.fats[this.layout.activeFat ?? 0]!;
  }

  /** `codepage`: the OEM code page of 8.3 names (437, or 850 as mtools writes by default). */
  static async mount(dev: BlockDevice, opts: { codepage?: string | number } = {}): Promise<FatVolume> {
    const cp = Number(opts.codepage ?? 437);
    if (cp !== 437 && cp !== 850) throw new UsageError(`codepage must be 437 or 850, got ${opts.codepage}`);
    const layout = await readLayout(dev);
    if (layout.type !== 'FAT32' && layout.rootDirOffset + layout.rootDirBytes > dev.size) {
      throw new TruncatedImageError('FAT root directory', layout.rootDirOffset, layout.rootDirBytes, dev.size);
    }
    const vol = new FatVolume(dev, layout, cp);
    const fsInfoAt = layout.raw.fsInfoSector * layout.bytesPerSector;
    if (layout.type === 'FAT32' && layout.raw.fsInfoSector > 0 && layout.raw.fsInfoSector < layout.raw.reservedSectors) {
      if (fsInfoAt + 512 > dev.size) throw new TruncatedImageError('FAT32 FSInfo sector', fsInfoAt, 512, dev.size);
      const s = new Uint8Array(512);
      await dev.read(s, fsInfoAt);
      vol.fsInfo = parseFsInfo(s);
    }
    if (layout.type === 'FAT32') vol.dirOwners.set(layout.rootCluster, '/');
    return vol;
  }

  /** A directory's data runs: the fixed root region of FAT12/16, else its cluster chain. */
  async dirRuns(path: string, node: DirNode | undefined): Promise<{ runs: DataRun[]; bytes: number }> {
    const l = this.layout;
    if (!node && l.type !== 'FAT32') return { runs: [{ fileOffset: 0, devOffset: l.rootDirOffset, length: l.rootDirBytes }], bytes: l.rootDirBytes };
    const cluster = node ? node.firstCluster : l.rootCluster;
    const what = node ? `directory ${path}` : 'root directory';
    const chain = await this.fat.chain(cluster, Math.ceil(MAX_DIR_BYTES / l.clusterSize), what);
    if (chain.longer) throw new CorruptImageError(`${what}: cluster chain`, this.fat.entryOffset(cluster), `at most ${MAX_DIR_BYTES} bytes (65,536 entries)`, 'a longer chain');
    const bytes = chain.clusters * l.clusterSize;
    const runs = dataRuns(chain.runs, bytes, l.clusterSize, l.dataOffset);
    for (const r of runs) if (r.devOffset + r.length > this.dev.size) throw new TruncatedImageError(what, r.devOffset, r.length, this.dev.size);
    return { runs, bytes };
  }

  protected async readDirectory(path: string, node: DirNode | undefined): Promise<{ nodes: DirNode[]; problems: CorruptImageError[] }> {
    const { runs, bytes } = await this.dirRuns(path, node);
    const data = new Uint8Array(bytes);
    await Promise.all(runs.map((r) => this.dev.read(data.subarray(r.fileOffset, r.fileOffset + r.length), r.devOffset)));
    const parsed = parseDirectory(data, runs, this.layout.type === 'FAT32', node ? `directory ${path}` : 'root directory', this.codepage);
    if (!node) this.rootLabel = parsed.label;
    return parsed;
  }

  protected nameOf(n: DirNode): string {
    return nodeName(n);
  }
  protected fold(name: string): string {
    return name.toUpperCase();
  }
  protected toEntry(n: DirNode, path: string): FileEntry {
    const e: FileEntry = {
      path, name: nodeName(n), type: n.isDirectory ? 'directory' : 'file', size: n.isDirectory ? 0 : n.size,
      attributes: attributeNames(n.attributes),
    };
    if (n.mtime) e.mtime = n.mtime;
    if (n.atime) e.atime = n.atime;
    if (n.ctime) e.birthtime = n.ctime;
    return e;
  }

  /** A file's cluster chain, checked against its size: a chain too short for the size is an error. */
  async fileChain(path: string, n: DirNode, whole = false): Promise<Chain | undefined> {
    const what = `file ${path}`;
    if (n.size === 0) return undefined;
    if (n.firstCluster === 0) throw new CorruptImageError(what, n.entryOffset, `a first cluster for ${n.size} bytes`, 'cluster 0');
    const needed = Math.ceil(n.size / this.layout.clusterSize);
    // Reading needs only the clusters the size covers; check follows the whole chain (a loop past them).
    const chain = await this.fat.chain(n.firstCluster, whole ? this.layout.clusterCount : needed, what);
    if (whole && chain.clusters > needed) chain.longer = true;
    if (chain.clusters < needed) {
      throw new CorruptImageError(`${what}: cluster chain`, this.fat.entryOffset(n.firstCluster), `${needed} clusters for ${n.size} bytes`, `${chain.clusters}`);
    }
    return chain;
  }

  async openFile(path: string): Promise<BlockDevice> {
    const { node: n, path: p } = await this.fileNode(path);
    const chain = await this.fileChain(p, n);
    const runs = chain ? dataRuns(chain.runs, n.size, this.layout.clusterSize, this.layout.dataOffset) : [];
    return clusterFile(this.dev, runs, n.size, n.size, `file ${p}`);
  }

  /** The label Windows shows: the root directory's volume entry, else the boot sector's. */
  async label(): Promise<string | undefined> {
    await this.dir('/', undefined);
    const l = this.rootLabel ?? this.layout.label;
    return l === 'NO NAME' ? undefined : l;
  }

  /** Free clusters counted in the FAT (up to 16 Mi clusters), else FSInfo's count. */
  async freeClusters(): Promise<number | undefined> {
    if (this.layout.clusterCount > 1 << 24) return this.fsInfo?.valid && this.fsInfo.freeCount <= this.layout.clusterCount ? this.fsInfo.freeCount : undefined;
    let free = 0;
    for (let c = 2; c <= this.fat.maxCluster; c++) if ((this.fat.peek(c) ?? (await this.fat.get(c))) === 0) free++;
    return free;
  }

  async info(): Promise<Record<string, unknown>> {
    const l = this.layout;
    const free = await this.freeClusters();
    const serial = l.serial === undefined ? undefined : `${(l.serial >>> 16).toString(16).padStart(4, '0')}-${(l.serial & 0xffff).toString(16).padStart(4, '0')}`.toUpperCase();
    return {
      fatType: l.type, label: await this.label(), bootSectorLabel: l.label, serial, oemName: l.raw.oemName.trimEnd(),
      sectorSize: l.bytesPerSector, clusterSize: l.clusterSize, clusterCount: l.clusterCount,
      volumeSize: l.volumeBytes, dataSize: l.clusterCount * l.clusterSize,
      freeSize: free === undefined ? undefined : free * l.clusterSize,
      usedSize: free === undefined ? undefined : (l.clusterCount - free) * l.clusterSize,
      fats: l.numFats, activeFat: l.activeFat, media: `0x${l.raw.media.toString(16)}`,
      ...(l.dos1 ? { dos1: true } : {}),
      ...(l.warning ? { warning: l.warning } : {}),
      ...(this.fsInfo ? { fsInfo: { valid: this.fsInfo.valid, freeCount: this.fsInfo.freeCount, nextFree: this.fsInfo.nextFree } } : {}),
    };
  }

  /** The FAT copies agree, chains are sound, no cross-links; lost clusters and a stale FSInfo are warnings. */
  check(): Promise<CheckReport> {
    return checkFat(this);
  }

  /** Boot sector (BPB), FSInfo, backup boot sector, the FAT copies and the root directory, for `dump`. */
  async structures(): Promise<Structure[]> {
    const l = this.layout;
    const out: Structure[] = [{ name: 'boot sector (BPB)', offset: 0, size: l.bytesPerSector, fields: bpbFields(l) }];
    if (this.fsInfo) out.push({ name: 'FSInfo', offset: l.raw.fsInfoSector * l.bytesPerSector, size: 512, fields: { ...this.fsInfo } });
    if (l.type === 'FAT32' && l.raw.backupBootSector > 0 && l.raw.backupBootSector < l.raw.reservedSectors) {
      out.push({ name: 'backup boot sector', offset: l.raw.backupBootSector * l.bytesPerSector, size: l.bytesPerSector, fields: {} });
    }
    for (const [i, f] of this.fats.entries()) {
      out.push({
        name: `FAT ${i + 1}`, offset: f.offset, size: l.fatSectors * l.bytesPerSector,
        fields: { bits: f.bits, entries: l.clusterCount + 2, usedBytes: f.usedBytes, active: (l.activeFat ?? i) === i, entry0: `0x${(await f.get(0)).toString(16)}` },
      });
    }
    if (l.type === 'FAT32') out.push({ name: 'root directory', offset: this.clusterOffset(l.rootCluster), size: l.clusterSize, fields: { firstCluster: l.rootCluster } });
    else out.push({ name: 'root directory', offset: l.rootDirOffset, size: l.rootDirBytes, fields: { entries: l.raw.rootEntries } });
    const free = await this.freeClusters();
    out.push({ name: 'FAT summary', offset: this.fat.offset, size: this.fat.usedBytes, fields: { clusters: l.clusterCount, free, used: free === undefined ? undefined : l.clusterCount - free } });
    return out;
  }

  clusterOffset(cluster: number): number {
    return this.layout.dataOffset + (cluster - 2) * this.layout.clusterSize;
  }
}

/** The layout from sector 0, or a DOS 1.x floppy's from its media byte. */
async function readLayout(dev: BlockDevice): Promise<FatLayout> {
  if (dev.size < 2048) throw new TruncatedImageError('FAT boot sector', 0, 2048, dev.size);
  const s = new Uint8Array(1024);
  await dev.read(s, 0);
  const raw = decodeBpb(s);
  if (bpbProblem(raw)) {
    const dos1 = dos1Layout(s, s.subarray(512), dev.size);
    if (dos1) return dos1;
  }
  return fatLayout(s);
}

/** Probe score for a FAT boot sector (0 when it is not one). */
export async function probeFat(dev: BlockDevice): Promise<number> {
  if (dev.size < 2048) return 0;
  const s = new Uint8Array(1024);
  await dev.read(s, 0);
  if (s[3] === 0x45 && s[4] === 0x58 && s[5] === 0x46 && s[6] === 0x41 && s[7] === 0x54) return 0; // "EXFAT"
  let layout: FatLayout;
  try {
    layout = (bpbProblem(decodeBpb(s)) ? dos1Layout(s, s.subarray(512), dev.size) : undefined) ?? fatLayout(s);
  } catch {
    return 0;
  }
  if (layout.dos1) return 60; // exact size, media byte and 0xFF 0xFF: specific enough
  const jumpOk = s[0] === 0xeb || s[0] === 0xe9;
  const sigOk = s[510] === 0x55 && s[511] === 0xaa;
  // The first FAT entry repeats the media byte: a good check where jump or signature is missing.
  const fat0 = new Uint8Array(1);
  if (layout.fatOffset < dev.size) await dev.read(fat0, layout.fatOffset);
  const mediaOk = fat0[0] === layout.raw.media;
  return (jumpOk ? 30 : 0) + (sigOk ? 30 : 0) + (mediaOk ? 30 : 0) + (layout.volumeBytes <= dev.size ? 5 : 0);
}

export const fatFilesystem: FilesystemDriver = {
  name: 'fat',
  probe: (dev) => probeFat(dev).then((s) => (s >= 60 ? s : 0)).catch(() => 0),
  mount: (dev, opts) => FatVolume.mount(dev, opts),
};
