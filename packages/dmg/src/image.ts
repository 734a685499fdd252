/** Reading UDIF images: koly trailer → XML plist → blkx tables → a BlockDevice of the disk inside. */
import {
  CorruptImageError, DeviceRangeError, TruncatedImageError, UnsupportedFeatureError, ascii, checkRange, crc32, extentWindow,
  type BlockDevice, type CheckReport, type Extent, type Image, type Inspection, type Problem, type Structure,
} from '@diskit/core';
import { parsePlist, type PlistDict, type PlistValue } from './plist.js';
import {
  CHECKSUM_CRC32, CHECKSUM_NONE, ChunkType, KOLY_SIZE, SECTOR, checksumNames, checksumValue, chunkTypeName, decodeKoly,
  decodeMish, type Chunk, type Koly, type Mish, type UdifChecksum,
} from './udif.js';
import { codecs, codecsReady } from './codecs.js';
import { adcDecode } from './adc.js';
import { lzfseDecode } from './lzfse.js';

/** Largest decompressed chunk accepted (QEMU's dmg.c uses the same 64 MiB cap). */
export const MAX_CHUNK_BYTES = 64 << 20;
/** Largest XML plist accepted. */
export const MAX_PLIST_BYTES = 256 << 20;

export interface BlkxEntry {
  /** Index in the plist's blkx array. */
  index: number;
  id: string;
  name: string;
  cfName?: string;
  attributes?: string;
  mish: Mish;
}

/** A chunk placed on the disk: absolute byte offsets, file offset of its payload. */
export interface PlacedChunk {
  type: number;
  start: number;
  length: number;
  fileOffset: number;
  fileLength: number;
  blkx: number;
  index: number;
}

const DATA_TYPES = new Set<number>([ChunkType.RAW, ChunkType.ADC, ChunkType.ZLIB, ChunkType.BZIP2, ChunkType.LZFSE, ChunkType.LZMA]);

/** Variant names of hdiutil formats, from the dominant chunk kind. */
const VARIANT_BY_TYPE: Record<number, string> = {
  [ChunkType.RAW]: 'UDRO',
  [ChunkType.ADC]: 'UDCO',
  [ChunkType.ZLIB]: 'UDZO',
  [ChunkType.BZIP2]: 'UDBZ',
  [ChunkType.LZFSE]: 'ULFO',
  [ChunkType.LZMA]: 'ULMO',
};

function str(v: PlistValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Refuse formats that look like UDIF's relatives but are not plain UDIF. */
export function sniffUnsupported(head: Uint8Array): string | undefined {
  const h = ascii(head, 0, 8);
  if (h === 'encrcdsa' || h === 'cdsaencr') return 'encrypted DMG';
  if (ascii(head, 0, 4) === 'sprs') return 'sparse image (UDSP)';
  return undefined;
}

export class DmgImage implements Image {
  readonly format = 'dmg';
  readonly readOnly = true;
  readonly size: number;
  readonly variant: string;
  private readonly starts: number[];
  private cache = new Map<number, Promise<Uint8Array>>();

  private constructor(
    readonly file: BlockDevice,
    readonly koly: Koly,
    readonly plist: PlistDict,
    readonly blkx: BlkxEntry[],
    readonly chunks: PlacedChunk[],
    readonly name?: string,
  ) {
    this.size = koly.sectorCount * SECTOR;
    this.starts = chunks.map((c) => c.start);
    const counts = new Map<number, number>();
    for (const c of chunks) if (DATA_TYPES.has(c.type) && c.type !== ChunkType.RAW) counts.set(c.type, (counts.get(c.type) ?? 0) + c.length);
    let best = ChunkType.RAW as number, bestN = 0;
    for (const [t, n] of counts) if (n > bestN) [best, bestN] = [t, n];
    this.variant = VARIANT_BY_TYPE[best] ?? 'UDRO';
  }

  static async open(file: BlockDevice, name?: string): Promise<DmgImage> {
    await codecsReady();
    const size = file.size;
    const headLen = Math.min(size, 8);
    const head = new Uint8Array(headLen);
    await file.read(head, 0);
    const unsupported = sniffUnsupported(head);
    if (unsupported) throw new UnsupportedFeatureError(`not supported: ${unsupported}`);
    if (size < KOLY_SIZE) throw new TruncatedImageError('koly trailer', 0, KOLY_SIZE, size);
    const kolyAt = size - KOLY_SIZE;
    const tail = new Uint8Array(KOLY_SIZE);
    await file.read(tail, kolyAt);
    const koly = decodeKoly(tail, kolyAt);
    if (koly.headerSize !== KOLY_SIZE) throw new CorruptImageError('koly.headerSize', kolyAt + 8, `${KOLY_SIZE}`, `${koly.headerSize}`);
    if (koly.segmentCount > 1) throw new UnsupportedFeatureError(`not supported: segmented DMG (${koly.segmentCount} segments)`);
    const within = (what: string, rel: number, off: number, len: number) => {
      if (off + len > kolyAt) throw new CorruptImageError(`koly.${what}`, kolyAt + rel, `a range inside the file's first ${kolyAt} bytes`, `[${off}, ${off + len})`);
    };
    within('dataFork', 24, koly.dataForkOffset, koly.dataForkLength);
    within('rsrcFork', 40, koly.rsrcForkOffset, koly.rsrcForkLength);
    if (koly.xmlLength === 0) throw new UnsupportedFeatureError('not supported: DMG without an XML plist (resource-fork-only image)');
    within('xml', 216, koly.xmlOffset, koly.xmlLength);
    if (koly.xmlLength > MAX_PLIST_BYTES) throw new CorruptImageError('koly.xmlLength', kolyAt + 224, `at most ${MAX_PLIST_BYTES}`, `${koly.xmlLength}`);
    if (!Number.isSafeInteger(koly.sectorCount * SECTOR)) throw new CorruptImageError('koly.sectorCount', kolyAt + 492, 'a size below 2^53', `${koly.sectorCount}`);

    const xml = new Uint8Array(koly.xmlLength);
    await file.read(xml, koly.xmlOffset);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(xml);
    } catch {
      throw new CorruptImageError('XML plist', koly.xmlOffset, 'UTF-8 text');
    }
    const root = parsePlist(text, koly.xmlOffset);
    const rf = (root as PlistDict)?.['resource-fork'];
    if (!rf || typeof rf !== 'object' || Array.isArray(rf) || rf instanceof Uint8Array || rf instanceof Date) {
      throw new CorruptImageError('XML plist', koly.xmlOffset, 'a "resource-fork" dictionary');
    }
    const blkxList = (rf as PlistDict)['blkx'];
    if (!Array.isArray(blkxList) || blkxList.length === 0) throw new CorruptImageError('XML plist', koly.xmlOffset, 'a non-empty "blkx" array');

    const blkx: BlkxEntry[] = [];
    const chunks: PlacedChunk[] = [];
    const diskEnd = koly.sectorCount * SECTOR;
    blkxList.forEach((e, index) => {
      const d = e as PlistDict;
      const data = d?.['Data'];
      const where = `blkx[${index}]`;
      if (!(data instanceof Uint8Array)) throw new CorruptImageError(where, koly.xmlOffset, 'a Data entry');
      const mish = decodeMish(data, where);
      const entry: BlkxEntry = {
        index,
        id: str(d['ID']) ?? String(index),
        name: str(d['Name']) ?? str(d['CFName']) ?? '',
        cfName: str(d['CFName']),
        attributes: str(d['Attributes']),
        mish,
      };
      blkx.push(entry);
      const base = mish.sectorNumber * SECTOR;
      const mishEnd = (mish.sectorNumber + mish.sectorCount) * SECTOR;
      if (!Number.isSafeInteger(mishEnd) || mishEnd > diskEnd) {
        throw new CorruptImageError(`${where} mish`, 8, `sectors within the disk's ${koly.sectorCount}`, `[${mish.sectorNumber}, +${mish.sectorCount})`);
      }
      mish.chunks.forEach((c: Chunk, ci) => {
        if (c.type === ChunkType.COMMENT || c.type === ChunkType.TERMINATOR) return;
        const cw = `${where} chunk ${ci}`;
        const start = base + c.sectorNumber * SECTOR;
        const length = c.sectorCount * SECTOR;
        if (!Number.isSafeInteger(start + length) || start + length > mishEnd) {
          throw new CorruptImageError(cw, 204 + ci * 40, `sectors within its blkx (${mish.sectorCount})`, `[${c.sectorNumber}, +${c.sectorCount})`);
        }
        if (length === 0) return;
        if (DATA_TYPES.has(c.type)) {
          if (length > MAX_CHUNK_BYTES) throw new CorruptImageError(cw, 204 + ci * 40, `at most ${MAX_CHUNK_BYTES} bytes decompressed`, `${length}`);
          if (c.type === ChunkType.RAW ? c.compressedLength !== length : c.compressedLength > MAX_CHUNK_BYTES * 2) {
            throw new CorruptImageError(cw, 204 + ci * 40, c.type === ChunkType.RAW ? `a raw length of ${length}` : 'a compressed length within bounds', `${c.compressedLength}`);
          }
          const fileOffset = koly.dataForkOffset + mish.dataOffset + c.compressedOffset;
          if (fileOffset + c.compressedLength > koly.dataForkOffset + koly.dataForkLength) {
            throw new CorruptImageError(cw, 204 + ci * 40, 'data inside the data fork', `[${fileOffset}, +${c.compressedLength})`);
          }
          chunks.push({ type: c.type, start, length, fileOffset, fileLength: c.compressedLength, blkx: index, index: ci });
        } else if (c.type === ChunkType.ZERO || c.type === ChunkType.IGNORE) {
          chunks.push({ type: c.type, start, length, fileOffset: 0, fileLength: 0, blkx: index, index: ci });
        } else {
          throw new UnsupportedFeatureError(`not supported: DMG chunk type 0x${c.type.toString(16).padStart(8, '0')} (${cw})`);
        }
      });
    });
    chunks.sort((a, b) => a.start - b.start);
    for (let i = 1; i < chunks.length; i++) {
      const p = chunks[i - 1]!, c = chunks[i]!;
      if (c.start < p.start + p.length) {
        throw new CorruptImageError(`blkx[${c.blkx}] chunk ${c.index}`, 0, `no overlap with blkx[${p.blkx}] chunk ${p.index}`, `disk bytes [${c.start}, ${c.start + c.length})`);
      }
    }
    return new DmgImage(file, koly, root as PlistDict, blkx, chunks, name);
  }

  /** The chunk holding disk byte `pos`, or -1 (then `next` is the index of the first chunk after it). */
  private find(pos: number): number {
    let lo = 0, hi = this.starts.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= pos) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }

  /** Decompress one chunk (checked against its expected size). */
  async decompress(c: PlacedChunk): Promise<Uint8Array> {
    const src = new Uint8Array(c.fileLength);
    await this.file.read(src, c.fileOffset);
    if (c.type === ChunkType.RAW) return src;
    const where = `blkx[${c.blkx}] chunk ${c.index} (${chunkTypeName(c.type)})`;
    try {
      switch (c.type) {
        case ChunkType.ZLIB:
          return await codecs().inflate(src, c.length);
        case ChunkType.ADC:
          return adcDecode(src, c.length);
        case ChunkType.LZFSE:
          return lzfseDecode(src, c.length);
        case ChunkType.BZIP2:
          return await codecs().bunzip2(src, c.length);
        case ChunkType.LZMA:
          throw new UnsupportedFeatureError(`not supported: LZMA chunks (ULMO), ${where}`);
      }
    } catch (e) {
      if (e instanceof UnsupportedFeatureError || e instanceof CorruptImageError) throw e;
      throw new CorruptImageError(where, c.fileOffset, `a ${chunkTypeName(c.type)} stream of ${c.length} bytes`, (e as Error).message);
    }
    throw new UnsupportedFeatureError(`not supported: chunk type ${chunkTypeName(c.type)}`);
  }

  /** The decompressed chunk i, with read-ahead of the next few compressed chunks (in parallel where the codec is async). */
  private chunkData(i: number): Promise<Uint8Array> {
    const depth = Math.max(1, codecs().concurrency);
    for (const k of this.cache.keys()) if (k < i - 1 || k > i + depth + 8) this.cache.delete(k);
    let found = 0;
    for (let j = i; j < this.chunks.length && found < depth; j++) {
      const c = this.chunks[j]!;
      if (!DATA_TYPES.has(c.type) || c.type === ChunkType.RAW) continue;
      found++;
      if (!this.cache.has(j)) {
        const p = this.decompress(c);
        p.catch(() => {});
        this.cache.set(j, p);
      }
    }
    let p = this.cache.get(i);
    if (!p) {
      p = this.decompress(this.chunks[i]!);
      this.cache.set(i, p);
    }
    return p;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    let pos = offset;
    const end = offset + into.length;
    let i = this.find(pos);
    while (pos < end) {
      const c = i >= 0 ? this.chunks[i] : undefined;
      if (c && pos < c.start + c.length) {
        const n = Math.min(end, c.start + c.length) - pos;
        if (c.type === ChunkType.RAW && !this.cache.has(i)) {
          // Stored chunks go straight from the file into the caller's buffer.
          await this.file.read(into.subarray(pos - offset, pos - offset + n), c.fileOffset + (pos - c.start));
        } else if (DATA_TYPES.has(c.type)) {
          const data = await this.chunkData(i);
          into.set(data.subarray(pos - c.start, pos - c.start + n), pos - offset);
        } else {
          into.fill(0, pos - offset, pos - offset + n);
        }
        pos += n;
        i++;
      } else {
        // A gap before the next chunk (or after the last): reads as zeros.
        const next = this.chunks[i + 1];
        const stop = Math.min(end, next ? next.start : end);
        into.fill(0, pos - offset, stop - offset);
        pos = stop;
        i++;
      }
    }
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('DMG images are read-only');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    let pos = start;
    let i = this.find(pos);
    if (i < 0) i = 0;
    for (; pos < end && i <= this.chunks.length; i++) {
      const c = this.chunks[i];
      if (!c) {
        yield { offset: pos, length: end - pos, kind: 'unallocated' };
        return;
      }
      if (c.start + c.length <= pos) continue;
      if (c.start > pos) {
        const stop = Math.min(end, c.start);
        yield { offset: pos, length: stop - pos, kind: 'unallocated' };
        pos = stop;
        if (pos >= end) return;
      }
      const stop = Math.min(end, c.start + c.length);
      const kind = DATA_TYPES.has(c.type) ? 'data' : c.type === ChunkType.ZERO ? 'zero' : 'unallocated';
      yield { offset: pos, length: stop - pos, kind };
      pos = stop;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'unallocated' };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.cache.clear();
    await this.file.close();
  }

  /** Per-partition facts: one per blkx entry. */
  partitions() {
    return this.blkx.map((b) => {
      const counts: Record<string, number> = {};
      let packed = 0;
      for (const c of b.mish.chunks) {
        const k = chunkTypeName(c.type);
        counts[k] = (counts[k] ?? 0) + 1;
        if (DATA_TYPES.has(c.type)) packed += c.compressedLength;
      }
      let best = 'raw', bestN = -1;
      const bytes: Record<string, number> = {};
      for (const c of b.mish.chunks) if (DATA_TYPES.has(c.type)) bytes[chunkTypeName(c.type)] = (bytes[chunkTypeName(c.type)] ?? 0) + c.sectorCount;
      for (const [k, n] of Object.entries(bytes)) if (n > bestN) [best, bestN] = [k, n];
      if (bestN < 0) best = counts['zero'] ? 'zero' : counts['ignore'] ? 'ignore' : 'none';
      return {
        index: b.index,
        id: b.id,
        name: b.name,
        start: b.mish.sectorNumber * SECTOR,
        size: b.mish.sectorCount * SECTOR,
        compression: best,
        compressedSize: packed,
        chunks: counts,
        checksum: describeChecksum(b.mish.checksum),
      };
    });
  }

  /** Every resource other than blkx (plst, cSum, nsiz, size, …): names and sizes, cSum and nsiz decoded. */
  resources(): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {};
    const rf = (this.plist['resource-fork'] as PlistDict) ?? {};
    for (const [kind, list] of Object.entries(rf)) {
      if (kind === 'blkx' || !Array.isArray(list)) continue;
      out[kind] = list.map((e) => {
        const d = (e ?? {}) as PlistDict;
        const data = d['Data'] instanceof Uint8Array ? d['Data'] : undefined;
        const r: Record<string, unknown> = { id: str(d['ID']), name: str(d['Name']), attributes: str(d['Attributes']), dataLength: data?.length ?? 0 };
        if (kind === 'cSum' && data && data.length >= 10) {
          // { u16 version; u32 type; u32 checksum }, big-endian
          const dv = new DataView(data.buffer, data.byteOffset, data.length);
          r.version = dv.getUint16(0);
          r.type = checksumNames[dv.getUint32(2)] ?? dv.getUint32(2);
          r.checksum = dv.getUint32(6).toString(16).padStart(8, '0');
        } else if (kind === 'nsiz' && data) {
          try {
            r.plist = jsonable(parsePlist(new TextDecoder().decode(data)));
          } catch (err) {
            r.error = (err as Error).message;
          }
        }
        return r;
      });
    }
    return out;
  }

  async info(): Promise<Record<string, unknown>> {
    return {
      imageVariant: this.koly.imageVariant,
      udifVersion: this.koly.version,
      dataForkLength: this.koly.dataForkLength,
      dataChecksum: describeChecksum(this.koly.dataChecksum),
      masterChecksum: describeChecksum(this.koly.masterChecksum),
      resources: this.resources(),
      blkx: this.partitions(),
    };
  }

  async inspect(): Promise<Inspection> {
    const k = this.koly;
    const kolyAt = this.file.size - KOLY_SIZE;
    const structures: Structure[] = [
      {
        name: 'koly',
        offset: kolyAt,
        size: KOLY_SIZE,
        fields: {
          version: k.version, headerSize: k.headerSize, flags: k.flags, runningDataForkOffset: k.runningDataForkOffset,
          dataForkOffset: k.dataForkOffset, dataForkLength: k.dataForkLength, rsrcForkOffset: k.rsrcForkOffset,
          rsrcForkLength: k.rsrcForkLength, segmentNumber: k.segmentNumber, segmentCount: k.segmentCount,
          dataChecksum: describeChecksum(k.dataChecksum), xmlOffset: k.xmlOffset, xmlLength: k.xmlLength,
          masterChecksum: describeChecksum(k.masterChecksum), imageVariant: k.imageVariant, sectorCount: k.sectorCount,
        },
      },
      {
        name: 'plist',
        offset: k.xmlOffset,
        size: k.xmlLength,
        fields: { resources: Object.keys((this.plist['resource-fork'] as PlistDict) ?? {}) },
        children: this.blkx.map((b) => ({
          name: `blkx[${b.index}]`,
          offset: k.xmlOffset,
          size: 204 + b.mish.chunks.length * 40,
          fields: {
            id: b.id, name: b.name, attributes: b.attributes, sectorNumber: b.mish.sectorNumber, sectorCount: b.mish.sectorCount,
            dataOffset: b.mish.dataOffset, buffersNeeded: b.mish.buffersNeeded, blockDescriptors: b.mish.blockDescriptors,
            checksum: describeChecksum(b.mish.checksum), chunks: b.mish.chunks.length,
          },
          children: b.mish.chunks.map((c, i) => ({
            name: `chunk[${i}]`,
            offset: k.dataForkOffset + b.mish.dataOffset + c.compressedOffset,
            size: c.compressedLength,
            fields: { type: chunkTypeName(c.type), comment: c.comment, sectorNumber: c.sectorNumber, sectorCount: c.sectorCount, compressedOffset: c.compressedOffset, compressedLength: c.compressedLength },
          })),
        })),
      },
    ];
    return { format: 'dmg', variant: this.variant, virtualSize: this.size, structures };
  }

  /**
   * The blkx checksum as hdiutil computes it: CRC32 of the decompressed bytes of its chunks in
   * table order, free (ignore) chunks left out and zero-fill chunks counted as zeros.
   */
  async blkxCrc(b: BlkxEntry): Promise<number> {
    let crc = 0;
    const base = b.mish.sectorNumber * SECTOR;
    const buf = new Uint8Array(1 << 20);
    for (const c of b.mish.chunks) {
      if (c.type === ChunkType.IGNORE || c.type === ChunkType.COMMENT || c.type === ChunkType.TERMINATOR) continue;
      const start = base + c.sectorNumber * SECTOR;
      const total = c.sectorCount * SECTOR;
      for (let p = 0; p < total; p += buf.length) {
        const v = buf.subarray(0, Math.min(buf.length, total - p));
        await this.read(v, start + p);
        crc = crc32(v, crc);
      }
    }
    return crc;
  }

  async check(): Promise<CheckReport> {
    const problems: Problem[] = [];
    const kolyAt = this.file.size - KOLY_SIZE;
    const checkSum = (c: UdifChecksum, what: string, offset: number, compute: () => Promise<number>) => async () => {
      if (c.type === CHECKSUM_NONE) return;
      if (c.type !== CHECKSUM_CRC32 || c.size !== 32) {
        problems.push({ severity: 'warning', message: `${what}: checksum kind ${checksumNames[c.type] ?? c.type} (${c.size} bits) not verified`, structure: what, offset });
        return;
      }
      const want = checksumValue(c);
      const got = await compute();
      if (got !== want) {
        problems.push({ severity: 'error', message: `${what}: CRC32 is 0x${want.toString(16).padStart(8, '0')}, data gives 0x${got.toString(16).padStart(8, '0')}`, structure: what, offset });
      }
    };
    // Data fork: CRC32 of its bytes, read in 4 MiB steps.
    await checkSum(this.koly.dataChecksum, 'koly.dataChecksum', kolyAt + 80, async () => {
      let crc = 0;
      const step = 4 << 20;
      const buf = new Uint8Array(step);
      for (let p = 0; p < this.koly.dataForkLength; p += step) {
        const b = buf.subarray(0, Math.min(step, this.koly.dataForkLength - p));
        await this.file.read(b, this.koly.dataForkOffset + p);
        crc = crc32(b, crc);
      }
      return crc;
    })();
    // Each blkx: CRC32 of its decompressed sectors.
    for (const b of this.blkx) {
      try {
        await checkSum(b.mish.checksum, `blkx[${b.index}] checksum`, this.koly.xmlOffset, () => this.blkxCrc(b))();
      } catch (e) {
        if (!(e instanceof CorruptImageError || e instanceof UnsupportedFeatureError)) throw e;
        problems.push({ severity: 'error', message: e.message, structure: `blkx[${b.index}]` });
      }
    }
    // Master checksum: CRC32 over the blkx checksums (each as its 4 big-endian bytes).
    await checkSum(this.koly.masterChecksum, 'koly.masterChecksum', kolyAt + 352, async () => masterCrc(this.blkx.map((b) => b.mish.checksum)))();
    return { problems };
  }
}

/** The master checksum hdiutil writes: CRC32 of the concatenated 4-byte blkx CRC32s. */
export function masterCrc(list: UdifChecksum[]): number {
  const b = new Uint8Array(list.length * 4);
  list.forEach((c, i) => b.set(c.data.subarray(0, 4), i * 4));
  return crc32(b);
}

function jsonable(v: PlistValue): unknown {
  if (v instanceof Uint8Array) return { bytes: v.length };
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(jsonable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonable(x)]));
  return v;
}

function describeChecksum(c: UdifChecksum): { type: string; bits: number; value?: string } {
  const type = checksumNames[c.type] ?? `0x${c.type.toString(16)}`;
  if (c.type === CHECKSUM_NONE) return { type, bits: c.size };
  const bytes = Math.min(128, Math.ceil(c.size / 8));
  let hex = '';
  for (let i = 0; i < bytes; i++) hex += c.data[i]!.toString(16).padStart(2, '0');
  return { type, bits: c.size, value: hex };
}
