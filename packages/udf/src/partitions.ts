/**
 * Logical blocks of a partition reference → bytes on the device, through the partition maps:
 * physical (type 1), sparable (packets remapped by the sparing table) and the UDF 2.50 metadata
 * partition (blocks of the metadata file, itself in a physical partition).
 */
import { CorruptImageError, type BlockDevice } from '@diskit/core';
import type { PartitionMap, VolumeStructure } from './descriptors.js';
import { fileExtents, type FileExtent } from './alloc.js';
import { AD, parseFileEntry, type FileEntry } from './file-entry.js';
import { readVat, vatLookup, type Vat } from './vat.js';
import { dv, readTag } from './tag.js';

interface Piece {
  offset: number;
  /** Bytes readable contiguously from `offset`. */
  bytes: number;
}

export class Partitions {
  private remaps = new Map<number, Map<number, number>>();
  private metadata = new Map<number, FileExtent[]>();
  private vats = new Map<number, Vat>();

  private constructor(
    readonly dev: BlockDevice,
    readonly vs: VolumeStructure,
  ) {}

  static async open(dev: BlockDevice, vs: VolumeStructure): Promise<Partitions> {
    const p = new Partitions(dev, vs);
    // Sparing tables and VATs first: a metadata file may live in a virtual partition.
    for (let ref = 0; ref < vs.lv.maps.length; ref++) {
      const m = vs.lv.maps[ref]!;
      if (m.type === 'sparable') p.remaps.set(ref, await p.readSparingTable(m));
      if (m.type === 'virtual') {
        const phys = p.mapOf(m.partition, 'physical');
        const pd = p.descriptor(m.partition);
        p.vats.set(ref, await readVat(dev, vs.sectorSize, vs.lv.blockSize, pd.start, (fe, offset) => p.contents(fe, phys, offset, 64 << 20)));
      }
    }
    for (let ref = 0; ref < vs.lv.maps.length; ref++) {
      const m = vs.lv.maps[ref]!;
      if (m.type === 'metadata') p.metadata.set(ref, await p.readMetadataFile(ref, m));
    }
    return p;
  }

  get blockSize(): number {
    return this.vs.lv.blockSize;
  }

  private descriptor(partitionNumber: number) {
    const pd = this.vs.partitions.find((p) => p.number === partitionNumber);
    if (!pd) throw new CorruptImageError('UDF partition map', 0, `a partition descriptor numbered ${partitionNumber}`);
    return pd;
  }

  /** The reference of the map of `partitionNumber` with one of the given types (the first that exists). */
  private mapOf(partitionNumber: number, ...types: PartitionMap['type'][]): number {
    for (const t of types) {
      const ref = this.vs.lv.maps.findIndex((m) => m.type === t && m.partition === partitionNumber);
      if (ref >= 0) return ref;
    }
    throw new CorruptImageError('UDF partition maps', 0, `a ${types.join(' or ')} map for partition ${partitionNumber}`);
  }

  /** A (small) file's whole contents: the VAT, the metadata file's own extents are not read this way. */
  async contents(fe: FileEntry, ref: number, where: number, max: number): Promise<Uint8Array> {
    if (fe.size > max) throw new CorruptImageError('UDF file', where, `at most ${max} bytes`, String(fe.size));
    if (fe.adType === AD.EMBEDDED) return fe.ads.subarray(0, Math.min(fe.size, fe.ads.length));
    const out = new Uint8Array(fe.size);
    for (const e of await fileExtents(fe.ads, fe.adType, ref, fe.size, (r, b, l) => this.readBlock(r, b, l), where)) {
      if (e.kind === 'recorded') await this.read(e.partitionRef, e.block, out.subarray(e.at, e.at + e.length));
    }
    return out;
  }

  private async readSparingTable(m: Extract<PartitionMap, { type: 'sparable' }>): Promise<Map<number, number>> {
    const ss = this.vs.sectorSize;
    for (const sector of m.tables) {
      const len = Math.min(Math.max(m.tableSize, 56), 1 << 20);
      if (sector * ss + len > this.dev.size) continue;
      const b = new Uint8Array(Math.ceil(len / ss) * ss);
      await this.dev.read(b, sector * ss);
      try {
        readTag(b, 'UDF sparing table', sector * ss, 0, sector);
      } catch {
        continue; // another copy may be good
      }
      const v = dv(b);
      const n = v.getUint16(48, true);
      const map = new Map<number, number>();
      for (let i = 0; i < n && 56 + 8 * i + 8 <= b.length; i++) {
        const original = v.getUint32(56 + 8 * i, true);
        if (original < 0xfffffff0) map.set(original, v.getUint32(60 + 8 * i, true));
      }
      return map;
    }
    throw new CorruptImageError('UDF sparing table', (m.tables[0] ?? 0) * ss, 'a valid sparing table');
  }

  private async readMetadataFile(ref: number, m: Extract<PartitionMap, { type: 'metadata' }>): Promise<FileExtent[]> {
    // In the virtual partition on write-once media, else the physical (or sparable) one.
    const phys = this.mapOf(m.partition, 'virtual', 'physical', 'sparable');
    let lastError: unknown;
    // The metadata file, else its mirror.
    for (const block of [m.file, m.mirror]) {
      try {
        const { bytes, offset } = await this.readBlock(phys, block, this.blockSize);
        const fe = parseFileEntry(bytes, offset, block);
        return await fileExtents(fe.ads, fe.adType, phys, fe.size, (r, b, l) => this.readBlock(r, b, l), offset);
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError instanceof Error ? lastError : new CorruptImageError('UDF metadata file', 0, `a file entry for metadata partition ${ref}`);
  }

  /** Where logical block `block` of partition reference `ref` is, and how many bytes follow it contiguously. */
  private locate(ref: number, block: number): Piece {
    const m = this.vs.lv.maps[ref];
    if (!m) throw new CorruptImageError('UDF address', 0, `partition reference below ${this.vs.lv.maps.length}`, String(ref));
    const bs = this.blockSize;
    if (m.type === 'metadata') {
      const extents = this.metadata.get(ref)!;
      const pos = block * bs;
      let lo = 0, hi = extents.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (extents[mid]!.at + extents[mid]!.length <= pos) lo = mid + 1;
        else hi = mid;
      }
      const e = extents[lo];
      if (!e || e.at > pos || e.kind !== 'recorded') throw new CorruptImageError('UDF metadata partition', pos, `block ${block} inside the metadata file`);
      const inner = this.locate(e.partitionRef, e.block + Math.floor((pos - e.at) / bs));
      return { offset: inner.offset, bytes: Math.min(inner.bytes, e.at + e.length - pos) };
    }
    if (m.type === 'virtual') {
      const inner = this.locate(this.mapOf(m.partition, 'physical'), vatLookup(this.vats.get(ref)!, block, 0));
      return { offset: inner.offset, bytes: Math.min(inner.bytes, bs) };
    }
    const pd = this.descriptor(m.partition);
    if (block >= Math.ceil((pd.length * this.vs.sectorSize) / bs)) throw new CorruptImageError('UDF address', pd.start * this.vs.sectorSize, `block below the partition's ${pd.length} sectors`, String(block));
    const base = pd.start * this.vs.sectorSize;
    let offset = base + block * bs;
    let bytes = (pd.start + pd.length) * this.vs.sectorSize - offset;
    if (m.type === 'sparable') {
      const packet = Math.floor(block / m.packetLength) * m.packetLength;
      const moved = this.remaps.get(ref)?.get(packet);
      if (moved !== undefined) offset = moved * this.vs.sectorSize + (block - packet) * bs;
      bytes = (packet + m.packetLength - block) * bs;
    }
    return { offset, bytes };
  }

  /** Read `length` bytes from logical block `block` of `ref`, across every mapping boundary. */
  async read(ref: number, block: number, into: Uint8Array): Promise<number> {
    const bs = this.blockSize;
    let first = -1;
    for (let done = 0; done < into.length; ) {
      const piece = this.locate(ref, block + Math.floor(done / bs));
      const within = done % bs;
      const n = Math.min(into.length - done, piece.bytes - within);
      if (n <= 0 || piece.offset + within + n > this.dev.size) throw new CorruptImageError('UDF data', piece.offset + within, 'data inside the image', `${n} bytes`);
      await this.dev.read(into.subarray(done, done + n), piece.offset + within);
      if (first < 0) first = piece.offset;
      done += n;
    }
    return first;
  }

  /** One descriptor-sized read: the bytes and their device offset (for messages). */
  async readBlock(ref: number, block: number, length: number): Promise<{ bytes: Uint8Array; offset: number }> {
    const bytes = new Uint8Array(Math.max(length, 1));
    const offset = await this.read(ref, block, bytes);
    return { bytes, offset };
  }

  /** Device byte ranges of a file's extents, for its BlockDevice: [fileOffset, devOffset, length]. */
  devicePieces(e: FileExtent): { at: number; offset: number; length: number }[] {
    const out: { at: number; offset: number; length: number }[] = [];
    const bs = this.blockSize;
    for (let done = 0; done < e.length; ) {
      const piece = this.locate(e.partitionRef, e.block + Math.floor(done / bs));
      const n = Math.min(e.length - done, piece.bytes - (done % bs));
      out.push({ at: e.at + done, offset: piece.offset + (done % bs), length: n });
      done += n;
      if (out.length > 1 << 20) throw new CorruptImageError('UDF file extents', piece.offset, 'fewer than a million pieces');
    }
    return out;
  }
}
