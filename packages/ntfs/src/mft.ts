/** The MFT: records found through $MFT's own runlist, read in chunks through a bounded cache. */
import { CorruptImageError, MappedDevice, type BlockDevice, type MappedRun } from '@diskit/core';
import { AT } from './attribute.js';
import { parseMftRecord, type MftRecord } from './mft-record.js';
import { loadFile, streamRuns, type NtfsFile, type VolumeGeometry } from './ntfs-file.js';
import type { BootSector } from './boot-sector.js';
import type { Run } from './runlist.js';

// Records are read 1,024 at a time (1 KiB records): listings touch neighbouring records.
const CHUNK = 1 << 20;
const MAX_CHUNKS = 16;
/** $MFTMirr holds copies of the first records ($MFT, $MFTMirr, $LogFile, $Volume). */
const MIRRORED = 4;

export class Mft {
  readonly recordSize: number;
  readonly records: number;
  /** True when record 0 came from $MFTMirr. */
  usedMirror = false;
  /** Cached chunks of the MFT, fixups undone in place record by record (`fixed` marks which). */
  private chunks = new Map<number, { bytes: Uint8Array; fixed: Uint8Array }>();
  private data: BlockDevice;
  private chunk: number;

  private constructor(private readonly dev: BlockDevice, private readonly boot: BootSector, private readonly runs: Run[], size: number) {
    this.recordSize = boot.recordSize;
    this.chunk = Math.max(CHUNK, this.recordSize);
    const cs = boot.clusterSize;
    const mruns: MappedRun[] = runs.map((r) => (r.lcn < 0 ? { at: r.vcn * cs, length: r.length * cs } : { at: r.vcn * cs, length: r.length * cs, from: r.lcn * cs }));
    const mapped = runs.length ? (runs[runs.length - 1]!.vcn + runs[runs.length - 1]!.length) * cs : 0;
    const usable = Math.min(size, mapped);
    this.records = Math.floor(usable / this.recordSize);
    this.data = new MappedDevice(dev, mruns, usable);
  }

  get runList(): Run[] {
    return this.runs;
  }

  get geometry(): VolumeGeometry {
    return { clusterSize: this.boot.clusterSize, totalClusters: this.boot.totalClusters };
  }

  static async open(dev: BlockDevice, boot: BootSector): Promise<Mft> {
    const geo = { clusterSize: boot.clusterSize, totalClusters: boot.totalClusters };
    const rs = boot.recordSize;
    let rec0: MftRecord;
    let usedMirror = false;
    try {
      rec0 = await readAt(dev, boot.mftLcn * boot.clusterSize, rs, 0);
    } catch (e) {
      if (!(e instanceof CorruptImageError)) throw e;
      try {
        rec0 = await readAt(dev, boot.mftMirrLcn * boot.clusterSize, rs, 0);
        usedMirror = true;
      } catch {
        throw e;
      }
    }
    const own = rec0.attributes.filter((a) => a.type === AT.DATA && a.name === '');
    const first = own.find((a) => a.startVcn === 0 && !a.value);
    if (!first) throw new CorruptImageError('MFT record 0 ($MFT)', rec0.offset, 'a non-resident unnamed $DATA from VCN 0', 'none');
    const size = first.dataSize;
    // Bootstrap with the runs in record 0, enough to reach the extension records of a fragmented $MFT.
    const boot0 = new Mft(dev, boot, streamRuns({ type: AT.DATA, name: '', head: first, extents: [first] }, geo)!, size);
    const file = await loadFile(rec0, dev, geo, (n) => boot0.readRecord(n));
    const data = file.get(AT.DATA)!;
    const mft = new Mft(dev, boot, streamRuns(data, geo)!, size);
    mft.usedMirror = usedMirror;
    return mft;
  }

  /** Image byte offset of record `n` (for messages), or -1 if it is not mapped. */
  offsetOf(n: number): number {
    const cs = this.boot.clusterSize;
    const pos = n * this.recordSize;
    const vcn = Math.floor(pos / cs);
    const r = this.runs.find((x) => x.vcn <= vcn && vcn < x.vcn + x.length);
    return r && r.lcn >= 0 ? (r.lcn + vcn - r.vcn) * cs + (pos % cs) : -1;
  }

  async readRecord(n: number): Promise<MftRecord> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.records) throw new CorruptImageError('MFT reference', this.offsetOf(0), `a record below ${this.records}`, String(n));
    const pos = n * this.recordSize;
    const ci = Math.floor(pos / this.chunk);
    let chunk = this.chunks.get(ci);
    if (chunk) {
      this.chunks.delete(ci);
    } else {
      const bytes = new Uint8Array(Math.min(this.chunk, this.data.size - ci * this.chunk));
      await this.data.read(bytes, ci * this.chunk);
      chunk = { bytes, fixed: new Uint8Array(Math.ceil(bytes.length / this.recordSize)) };
      if (this.chunks.size >= MAX_CHUNKS) this.chunks.delete(this.chunks.keys().next().value!);
    }
    this.chunks.set(ci, chunk);
    const at = pos - ci * this.chunk;
    const slot = at / this.recordSize;
    // Parsed in place (no copy per record): fixups are undone once, then the record is marked.
    const buf = chunk.bytes.subarray(at, at + this.recordSize);
    try {
      const rec = parseMftRecord(buf, n, this.offsetOf(n), chunk.fixed[slot] === 1);
      chunk.fixed[slot] = 1;
      return rec;
    } catch (e) {
      if (n >= MIRRORED || !(e instanceof CorruptImageError)) throw e;
      try {
        return await readAt(this.dev, this.boot.mftMirrLcn * this.boot.clusterSize + n * this.recordSize, this.recordSize, n);
      } catch {
        throw e;
      }
    }
  }

  /** Record `n` as a file in use with all its attributes. */
  async file(n: number): Promise<NtfsFile> {
    const rec = await this.readRecord(n);
    return loadFile(rec, this.dev, this.geometry, (m) => this.readRecord(m));
  }
}

async function readAt(dev: BlockDevice, offset: number, size: number, n: number): Promise<MftRecord> {
  if (offset + size > dev.size) throw new CorruptImageError(`MFT record ${n}`, offset, `a record inside the volume (${dev.size} bytes)`, 'past the end');
  const buf = new Uint8Array(size);
  await dev.read(buf, offset);
  return parseMftRecord(buf, n, offset);
}
