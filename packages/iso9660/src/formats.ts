/** FormatDrivers: `iso` (a plain ISO9660 image file) and `bin` (raw 2352-byte sectors); `cue` is in cue.ts. */
import {
  CorruptImageError, ReadOnlyDevice, UsageError, UnsupportedFeatureError, checkRange, copyDevice,
  type BlockDevice, type Extent, type FormatDriver, type Image, type Inspection, type Structure, type CheckReport, type Problem,
} from '@diskit/core';
import { SECTOR, parsePathTable, aString, ucs2String, decodeLongDate } from './structs.js';
import { readDescriptors, volumeFacts, IsoVolume, type DescriptorInfo } from './reader/index.js';
import { readBootCatalog } from './eltorito.js';
import { RAW_SECTOR, hasSync, encodeMode1, checkSectorEdc, cueSheet } from './cdsector.js';
import { checkPathTables } from './check.js';

function isCd001(b: Uint8Array, off: number): boolean {
  return b.length >= off + 6 && b[off + 1] === 0x43 && b[off + 2] === 0x44 && b[off + 3] === 0x30 && b[off + 4] === 0x30 && b[off + 5] === 0x31;
}

function hasMbr(b: Uint8Array): boolean {
  return b.length >= 512 && b[510] === 0x55 && b[511] === 0xaa;
}

function descriptorStructure(d: DescriptorInfo): Structure {
  const fields: Record<string, unknown> = { type: d.type, kind: d.kind, version: d.version };
  if (d.raw) {
    const txt = d.kind === 'joliet' ? ucs2String : aString;
    Object.assign(fields, {
      systemId: txt(d.raw.systemId), volumeId: txt(d.raw.volumeId), volumeSpaceSize: d.raw.volumeSpaceSize,
      logicalBlockSize: d.raw.logicalBlockSize, pathTableSize: d.raw.pathTableSize, lPathTable: d.raw.lPathTable,
      optLPathTable: d.raw.optLPathTable, mPathTable: d.raw.mPathTable, optMPathTable: d.raw.optMPathTable,
      volumeSetId: txt(d.raw.volumeSetId), publisherId: txt(d.raw.publisherId), preparerId: txt(d.raw.preparerId),
      applicationId: txt(d.raw.applicationId), created: decodeLongDate(d.raw.creationDate)?.toISOString(),
      modified: decodeLongDate(d.raw.modificationDate)?.toISOString(), fileStructureVersion: d.raw.fileStructureVersion,
    });
    if (d.jolietLevel) fields.jolietLevel = d.jolietLevel;
  }
  if (d.bootSystemId !== undefined) fields.bootSystemId = d.bootSystemId;
  if (d.bootCatalogLba !== undefined) fields.bootCatalogLba = d.bootCatalogLba;
  return { name: `volume descriptor (${d.kind})`, offset: d.offset, size: SECTOR, fields };
}

/** An ISO image: the file itself is the disk. */
export class IsoImage implements Image {
  readonly format = 'iso';
  constructor(
    readonly file: BlockDevice,
    readonly variant: string,
    readonly descriptors: DescriptorInfo[],
  ) {}
  get size(): number {
    return this.file.size;
  }
  get readOnly(): boolean {
    return this.file.readOnly;
  }
  read(into: Uint8Array, offset: number): Promise<void> {
    return this.file.read(into, offset);
  }
  write(from: Uint8Array, offset: number): Promise<void> {
    return this.file.write(from, offset);
  }
  extents(offset?: number, length?: number): AsyncIterable<Extent> {
    return this.file.extents(offset, length);
  }
  flush(): Promise<void> {
    return this.file.flush();
  }
  /** A device this image opened itself (through a CUE sheet) and closes with it. */
  owned?: BlockDevice;
  async close(): Promise<void> {
    await this.owned?.close();
  }

  async inspect(): Promise<Inspection> {
    const structures: Structure[] = [];
    if (this.variant === 'hybrid') structures.push({ name: 'MBR (isohybrid)', offset: 0, size: 512, fields: {} });
    for (const d of this.descriptors) {
      const s = descriptorStructure(d);
      structures.push(s);
      if (d.raw && (d.kind === 'primary' || d.kind === 'joliet' || d.kind === 'enhanced')) {
        const size = d.raw.pathTableSize;
        for (const [which, lba, be] of [['L', d.raw.lPathTable, false], ['M', d.raw.mPathTable, true]] as const) {
          const off = lba * SECTOR;
          if (!lba || off + size > this.size || size > 16 << 20) continue;
          const b = new Uint8Array(size);
          await this.file.read(b, off);
          let entries: ReturnType<typeof parsePathTable> = [];
          try {
            entries = parsePathTable(b, be, off);
          } catch {
            /* reported by check() */
          }
          const dec = d.kind === 'joliet' ? ucs2String : aString;
          s.children ??= [];
          s.children.push({
            name: `${which} path table`, offset: off, size,
            fields: { entries: entries.length },
            children: entries.slice(0, 1000).map((e, i) => ({ name: `path table record ${i + 1}`, offset: off + e.offset, size: 8 + e.name.length, fields: { name: i === 0 ? '' : dec(e.name), extent: e.extent, parent: e.parent } })),
          });
        }
      }
      if (d.bootCatalogLba !== undefined) {
        try {
          const cat = await readBootCatalog(this.file, d.bootCatalogLba);
          structures.push({
            name: 'El Torito boot catalog', offset: cat.offset, size: SECTOR, fields: { validation: cat.validation },
            children: cat.entries.map((e) => ({ name: `boot entry (${e.platform}, ${e.media})`, offset: e.offset, size: 32, fields: { ...e } })),
          });
        } catch (e) {
          structures.push({ name: 'El Torito boot catalog', offset: d.bootCatalogLba * SECTOR, size: SECTOR, fields: { error: String((e as Error).message) } });
        }
      }
    }
    return { format: 'iso', variant: this.variant, virtualSize: this.size, structures };
  }

  async info(): Promise<Record<string, unknown>> {
    const extra: Record<string, unknown> = {};
    try {
      const vol = await IsoVolume.mount(this.file);
      extra.rockRidge = vol.hasRockRidge;
      extra.rockRidgeExtensions = vol.rockRidgeExtensions;
    } catch {
      /* descriptors alone */
    }
    const b = this.descriptors.find((d) => d.bootCatalogLba !== undefined);
    if (b) {
      try {
        const cat = await readBootCatalog(this.file, b.bootCatalogLba!);
        extra.bootEntries = cat.entries.map((e) => ({ platform: e.platform, media: e.media, bootable: e.bootable, loadRba: e.loadRba, sectorCount: e.sectorCount }));
      } catch (e) {
        extra.bootCatalogError = String((e as Error).message);
      }
    }
    return volumeFacts(this.descriptors, extra);
  }

  async check(): Promise<CheckReport> {
    const problems: Problem[] = [];
    const pvd = this.descriptors.find((d) => d.kind === 'primary')?.raw;
    if (pvd && pvd.volumeSpaceSize * SECTOR > this.size) {
      problems.push({ severity: 'error', structure: 'primary volume descriptor', offset: 16 * SECTOR, message: `volume space size ${pvd.volumeSpaceSize} blocks exceeds the file (${this.size} bytes)` });
    }
    for (const d of this.descriptors) {
      if (d.raw && (d.kind === 'primary' || d.kind === 'joliet')) problems.push(...(await checkPathTables(this.file, d)));
      if (d.bootCatalogLba !== undefined) {
        try {
          const cat = await readBootCatalog(this.file, d.bootCatalogLba);
          if (!cat.validation.checksumOk) problems.push({ severity: 'error', structure: 'El Torito validation entry', offset: cat.offset, message: 'checksum does not sum to zero' });
        } catch (e) {
          problems.push({ severity: 'error', structure: 'El Torito boot catalog', offset: d.bootCatalogLba * SECTOR, message: String((e as Error).message) });
        }
      }
    }
    return { problems };
  }
}

export const isoFormat: FormatDriver = {
  name: 'iso',
  aliases: ['iso9660'],
  description: 'ISO9660 CD/DVD image (Joliet, Rock Ridge, El Torito; isohybrid)',
  probe(input) {
    return isCd001(input.head, 16 * SECTOR) ? 95 : 0;
  },
  async open(file) {
    const descs = await readDescriptors(file);
    const head = new Uint8Array(512);
    await file.read(head, 0);
    return new IsoImage(file, hasMbr(head) ? 'hybrid' : 'iso9660', descs);
  },
  async create(source, sink, opts) {
    for (const k of Object.keys(opts?.options ?? {})) throw new UsageError(`unknown iso option '${k}'`);
    await copyDevice(source, sink, { onProgress: opts?.onProgress });
  },
};

// ------------------------------------------------------------------------------ BIN (2352)

/** A BIN file's user data (2048 bytes per raw sector). */
export class BinImage extends ReadOnlyDevice implements Image {
  readonly format = 'bin';
  readonly size: number;
  constructor(
    readonly file: BlockDevice,
    readonly variant: string,
    private readonly dataOffset: number,
    readonly sectors: number,
  ) {
    super();
    this.size = sectors * SECTOR;
  }
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    let pos = offset;
    const end = offset + into.length;
    const chunkSectors = 512;
    const raw = new Uint8Array(Math.min(chunkSectors, Math.ceil(into.length / SECTOR) + 1) * RAW_SECTOR);
    while (pos < end) {
      const first = Math.floor(pos / SECTOR);
      const last = Math.min(Math.floor((end - 1) / SECTOR), first + raw.length / RAW_SECTOR - 1);
      const n = last - first + 1;
      await this.file.read(raw.subarray(0, n * RAW_SECTOR), first * RAW_SECTOR);
      for (let i = 0; i < n; i++) {
        const s = first + i;
        const from = Math.max(pos, s * SECTOR);
        const to = Math.min(end, (s + 1) * SECTOR);
        const base = i * RAW_SECTOR + this.dataOffset;
        into.set(raw.subarray(base + (from - s * SECTOR), base + (to - s * SECTOR)), from - offset);
        pos = to;
      }
    }
  }
  owned?: BlockDevice;
  override async close(): Promise<void> {
    await this.owned?.close();
  }
  async inspect(): Promise<Inspection> {
    const h = new Uint8Array(16);
    await this.file.read(h, 0);
    return {
      format: 'bin', variant: this.variant, virtualSize: this.size,
      structures: [{ name: 'sector 0 header', offset: 0, size: 16, fields: { mode: h[15], msf: [h[12], h[13], h[14]].map((x) => x!.toString(16)).join(':') } }],
    };
  }
  async info(): Promise<Record<string, unknown>> {
    return { sectors: this.sectors, rawSectorSize: RAW_SECTOR, userDataOffset: this.dataOffset };
  }
  async check(): Promise<CheckReport> {
    const problems: Problem[] = [];
    const raw = new Uint8Array(RAW_SECTOR);
    for (let s = 0; s < this.sectors && problems.length < 100; s++) {
      await this.file.read(raw, s * RAW_SECTOR);
      if (!hasSync(raw)) problems.push({ severity: 'error', structure: 'sector sync', offset: s * RAW_SECTOR, message: `sector ${s} has no sync pattern` });
      else if (!checkSectorEdc(raw)) problems.push({ severity: 'error', structure: 'sector EDC', offset: s * RAW_SECTOR, message: `sector ${s} EDC mismatch` });
    }
    return { problems };
  }
}

export const binFormat: FormatDriver = {
  name: 'bin',
  aliases: ['bin2352'],
  description: 'raw 2352-byte CD sectors (MODE1/2352, MODE2/2352 form 1) as in BIN/CUE',
  /** The CUE sheet that names the new .bin, written beside it. */
  sidecars: (outputName) => [{ name: outputName.replace(/\.[^./]*$/, '') + '.cue', data: new TextEncoder().encode(cueSheet(outputName)) }],
  probe(input) {
    if (!hasSync(input.head)) return 0;
    if (input.size % RAW_SECTOR !== 0) return 20;
    const m = input.head[15];
    if (m !== 1 && m !== 2) return 10;
    return input.head.length >= RAW_SECTOR * 2 && hasSync(input.head, RAW_SECTOR) ? 90 : 60;
  },
  async open(file) {
    if (file.size < RAW_SECTOR) throw new CorruptImageError('BIN sector 0', 0, `${RAW_SECTOR} bytes`, `${file.size}`);
    const h = new Uint8Array(24);
    await file.read(h, 0);
    if (!hasSync(h)) throw new CorruptImageError('BIN sector 0', 0, 'sync pattern 00 FF×10 00');
    const mode = h[15];
    let variant: string, dataOffset: number;
    if (mode === 1) {
      variant = 'mode1/2352';
      dataOffset = 16;
    } else if (mode === 2) {
      if (h[18]! & 0x20) throw new UnsupportedFeatureError('MODE2 form 2 sectors (2324-byte user data) are not supported');
      variant = 'mode2/2352';
      dataOffset = 24;
    } else throw new CorruptImageError('BIN sector 0 header', 15, 'mode 1 or 2', String(mode));
    return new BinImage(file, variant, dataOffset, Math.floor(file.size / RAW_SECTOR));
  },
  async create(source, sink, opts) {
    for (const k of Object.keys(opts?.options ?? {})) throw new UsageError(`unknown bin option '${k}' (bin writes MODE1/2352)`);
    const sectors = Math.ceil(source.size / SECTOR);
    const batch = 256;
    const user = new Uint8Array(batch * SECTOR);
    const raw = new Uint8Array(batch * RAW_SECTOR);
    for (let s = 0; s < sectors; s += batch) {
      const n = Math.min(batch, sectors - s);
      const bytes = Math.min(n * SECTOR, source.size - s * SECTOR);
      user.fill(0);
      await source.read(user.subarray(0, bytes), s * SECTOR);
      for (let i = 0; i < n; i++) encodeMode1(user.subarray(i * SECTOR, (i + 1) * SECTOR), s + i, raw.subarray(i * RAW_SECTOR, (i + 1) * RAW_SECTOR));
      await sink.write(raw.subarray(0, n * RAW_SECTOR), s * RAW_SECTOR);
      opts?.onProgress?.(Math.min(source.size, (s + n) * SECTOR), source.size);
    }
    await sink.truncate(sectors * RAW_SECTOR);
    await sink.flush?.();
  },
};
