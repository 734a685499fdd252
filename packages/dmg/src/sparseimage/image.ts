/**
 * An opened `.sparseimage`: the disk as a BlockDevice. Mapped bands read from the file (runs of
 * bands that lie one after another in the file in one read); holes are `unallocated` and never
 * read. Holes the host left in the file inside a band come through as `zero`.
 */
import {
  CorruptImageError, DeviceRangeError, TruncatedImageError, ascii, checkRange, extentWindow, readBytes,
  type BlockDevice, type CheckReport, type Extent, type Image, type Inspection, type Problem,
} from '@diskit/core';
import { NODE_SIZE, SPRS, SPRS_SECTOR, parseSparseHeader, type SparseHeader } from './header.js';
import { readBandMap, type BandMap, type NodePlace } from './band-map.js';

/** Bands larger than this are refused: hdiutil's are 1 MiB (2,048 sectors) by default. */
const MAX_BAND_SIZE = 1 << 30;

export class SparseImage implements Image {
  readonly format = 'sparseimage';
  readonly variant = 'UDSP';
  readonly readOnly = true;

  private constructor(
    readonly file: BlockDevice,
    readonly header: SparseHeader,
    readonly size: number,
    readonly map: BandMap,
    readonly nodes: NodePlace[],
  ) {}

  /** Whether `dev` starts like a sparse image: for a decryption layer choosing what to open on its output. */
  static async holds(dev: BlockDevice): Promise<boolean> {
    if (dev.size < NODE_SIZE) return false;
    const head = await readBytes(dev, 0, 8);
    return ascii(head, 0, 4) === SPRS && head[4] === 0 && head[5] === 0;
  }

  static async open(file: BlockDevice): Promise<SparseImage> {
    if (file.size < NODE_SIZE) throw new TruncatedImageError('sparseimage header', 0, NODE_SIZE, file.size);
    const header = parseSparseHeader(await readBytes(file, 0, NODE_SIZE));
    const bandSize = header.sectorsPerBand * SPRS_SECTOR;
    if (header.sectorsPerBand === 0 || bandSize > MAX_BAND_SIZE) {
      throw new CorruptImageError('sparseimage header sectors per band', 8, `1 to ${MAX_BAND_SIZE / SPRS_SECTOR}`, String(header.sectorsPerBand));
    }
    const size = header.sectorCount * SPRS_SECTOR;
    if (!Number.isSafeInteger(size)) throw new CorruptImageError('sparseimage header sector count', 0x1c, 'a disk below 2^53 bytes', String(header.sectorCount));
    const { map, nodes } = await readBandMap(file, header, size);
    return new SparseImage(file, header, size, map, nodes);
  }

  get bandSize(): number {
    return this.map.bandSize;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const bs = this.bandSize;
    for (let at = 0; at < into.length; ) {
      const pos = offset + at;
      const band = Math.floor(pos / bs);
      const inBand = pos - band * bs;
      const start = this.map.offsetOf(band);
      let n = Math.min(bs - inBand, into.length - at);
      if (start < 0) {
        into.fill(0, at, at + n);
      } else {
        // Following bands stored right after this one join the same read.
        for (let b = band + 1; at + n < into.length && this.map.offsetOf(b) === start + (b - band) * bs; b++) n = Math.min(n + bs, into.length - at);
        await this.file.read(into.subarray(at, at + n), start + inBand);
      }
      at += n;
    }
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('sparseimage images open read-only (convert to write a new one)');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    const bs = this.bandSize;
    const m = this.map;
    let pos = start;
    for (let i = m.lowerBound(Math.floor(start / bs)); pos < end && i < m.count; ) {
      const bandStart = m.bands[i]! * bs;
      if (bandStart >= end) break;
      if (bandStart > pos) {
        yield { offset: pos, length: bandStart - pos, kind: 'unallocated' };
        pos = bandStart;
      }
      // A run of bands next to each other on the disk and in the file: one question to the file.
      let j = i + 1;
      while (j < m.count && m.bands[j] === m.bands[j - 1]! + 1 && m.offsets[j] === m.offsets[j - 1]! + bs) j++;
      const runEnd = Math.min(end, (m.bands[j - 1]! + 1) * bs, this.size);
      const fileAt = m.offsets[i]! + (pos - bandStart);
      for await (const e of this.file.extents(fileAt, runEnd - pos)) yield { offset: e.offset - fileAt + pos, length: e.length, kind: e.kind === 'data' ? 'data' : 'zero' };
      pos = runEnd;
      i = j;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'unallocated' };
  }

  async inspect(): Promise<Inspection> {
    const h = this.header;
    const bs = this.bandSize;
    return {
      format: this.format,
      variant: this.variant,
      virtualSize: this.size,
      bandSize: bs,
      allocatedBands: this.map.count,
      structures: this.nodes.map((n) => ({
        name: n.number < 0 ? 'sprs header' : `sprs index node ${n.number}`,
        offset: n.offset,
        size: NODE_SIZE,
        fields:
          n.number < 0
            ? { version: h.version, sectorsPerBand: h.sectorsPerBand, flags: h.flags, sectorCount: h.sectorCount, nextIndexNode: h.nextIndexNode, usedSlots: n.used }
            : { number: n.number, flags: n.flags, usedSlots: n.used },
        children: n.span ? [{ name: 'bands', offset: n.offset + NODE_SIZE, size: n.span * bs, fields: { slots: n.span } }] : undefined,
      })),
    };
  }

  async info(): Promise<Record<string, unknown>> {
    return { bandSize: this.bandSize, bands: Math.ceil(this.size / this.bandSize), allocatedBands: this.map.count, indexNodes: this.nodes.length - 1 };
  }

  /** The format has no checksums; what can be judged is the index's own consistency. */
  async check(): Promise<CheckReport> {
    const problems: Problem[] = [];
    if (this.header.version !== 3) problems.push({ severity: 'warning', message: `sparseimage version ${this.header.version} (hdiutil writes 3)`, structure: 'sprs header', offset: 4 });
    this.nodes.slice(1).forEach((n, i) => {
      if (n.number !== i) problems.push({ severity: 'warning', message: `index node numbered ${n.number}, expected ${i}`, structure: 'sprs index node', offset: n.offset });
    });
    for (const n of this.nodes) {
      if (n.used !== n.span) problems.push({ severity: 'warning', message: `${n.span - n.used} unused band slot(s) between used ones`, structure: 'sprs band index', offset: n.offset });
    }
    return { problems };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    await this.file.close();
  }
}
