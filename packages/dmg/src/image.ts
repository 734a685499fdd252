/** Reading UDIF images: the chunk table (table.ts) → a BlockDevice of the disk inside, CRC32s checked as data is read. */
import {
  CorruptImageError, DeviceRangeError, UnsupportedFeatureError, checkRange, extentWindow,
  type BlockDevice, type CheckReport, type Extent, type Image, type Inspection,
} from '@diskit/core';
import type { PlistDict } from './plist.js';
import { ChunkType, chunkTypeName, type Koly } from './udif.js';
import { codecs, codecsReady } from './codecs.js';
import { adcDecode } from './adc.js';
import { lzfseDecode } from './lzfse.js';
import { isDataChunk, readTable, sniffUnsupported, type BlkxEntry, type PlacedChunk } from './table.js';
import { StreamVerifier } from './verify.js';
import { describeImage, inspectImage, partitionsOf, resourcesOf } from './describe.js';
import { checkImage } from './check.js';

export { masterCrc } from './check.js';

export interface DmgOpenOptions {
  name?: string;
  /** Check each blkx's CRC32 and the data fork's as the data is read (default true). */
  verify?: boolean;
}

/** Variant names of hdiutil formats, from the dominant chunk kind. */
const VARIANT_BY_TYPE: Record<number, string> = {
  [ChunkType.RAW]: 'UDRO',
  [ChunkType.ADC]: 'UDCO',
  [ChunkType.ZLIB]: 'UDZO',
  [ChunkType.BZIP2]: 'UDBZ',
  [ChunkType.LZFSE]: 'ULFO',
  [ChunkType.LZMA]: 'ULMO',
};

export class DmgImage implements Image {
  readonly format = 'dmg';
  readonly readOnly = true;
  readonly variant: string;
  private readonly starts: number[];
  private cache = new Map<number, Promise<Uint8Array>>();
  private verifier?: StreamVerifier;

  private constructor(
    readonly file: BlockDevice,
    readonly koly: Koly,
    readonly plist: PlistDict,
    readonly blkx: BlkxEntry[],
    readonly chunks: PlacedChunk[],
    readonly size: number,
    readonly name?: string,
    verify = true,
  ) {
    this.starts = chunks.map((c) => c.start);
    const counts = new Map<number, number>();
    for (const c of chunks) if (isDataChunk(c) && c.type !== ChunkType.RAW) counts.set(c.type, (counts.get(c.type) ?? 0) + c.length);
    let best = ChunkType.RAW as number, bestN = 0;
    for (const [t, n] of counts) if (n > bestN) [best, bestN] = [t, n];
    this.variant = VARIANT_BY_TYPE[best] ?? 'UDRO';
    if (verify) this.verifier = new StreamVerifier(blkx, chunks, koly, (b, o) => file.read(b, o), (d) => codecs().crc32(d));
  }

  static async open(file: BlockDevice, opts: DmgOpenOptions | string = {}): Promise<DmgImage> {
    const { name, verify } = typeof opts === 'string' ? { name: opts, verify: true } : opts;
    await codecsReady();
    const head = new Uint8Array(Math.min(file.size, 8));
    await file.read(head, 0);
    const unsupported = sniffUnsupported(head);
    if (unsupported) throw new UnsupportedFeatureError(`not supported: ${unsupported}`);
    const t = await readTable(file);
    return new DmgImage(file, t.koly, t.plist, t.blkx, t.chunks, t.size, name, verify !== false);
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

  /** Decompress one chunk (checked against its expected size, and fed to the CRC32 verifier). */
  async decompress(c: PlacedChunk): Promise<Uint8Array> {
    const src = new Uint8Array(c.fileLength);
    await this.file.read(src, c.fileOffset);
    const v = this.verifier;
    // Taken before decoding: a worker-thread codec takes over src's memory.
    const storedCrc = v ? codecs().crc32(src) : 0;
    const out = await this.decode(c, src);
    if (v) await v.chunk(c, c.type === ChunkType.RAW ? storedCrc : codecs().crc32(out), storedCrc);
    return out;
  }

  private async decode(c: PlacedChunk, src: Uint8Array): Promise<Uint8Array> {
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
          return await codecs().unxz(src, c.length);
      }
    } catch (e) {
      if (e instanceof UnsupportedFeatureError || e instanceof CorruptImageError) throw e;
      throw new CorruptImageError(where, c.fileOffset, `a ${chunkTypeName(c.type)} stream of ${c.length} bytes`, (e as Error).message);
    }
    throw new UnsupportedFeatureError(`not supported: DMG chunk type ${chunkTypeName(c.type)} (${where})`);
  }

  /** The decompressed chunk i, with read-ahead of the next few compressed chunks (in parallel where the codec is async). */
  private chunkData(i: number): Promise<Uint8Array> {
    const depth = Math.max(1, codecs().concurrency);
    for (const k of this.cache.keys()) if (k < i - 1 || k > i + depth + 8) this.cache.delete(k);
    let found = 0;
    for (let j = i; j < this.chunks.length && found < depth; j++) {
      const c = this.chunks[j]!;
      if (!isDataChunk(c) || c.type === ChunkType.RAW) continue;
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
        const out = into.subarray(pos - offset, pos - offset + n);
        if (c.type === ChunkType.RAW && !this.cache.has(i) && (!this.verifier || n === c.length)) {
          // Stored chunks go straight from the file into the caller's buffer (whole, when verifying: their CRC32 is taken here).
          await this.file.read(out, c.fileOffset + (pos - c.start));
          if (this.verifier) {
            const crc = codecs().crc32(out);
            await this.verifier.chunk(c, crc, crc);
          }
        } else if (isDataChunk(c)) {
          const data = await this.chunkData(i);
          out.set(data.subarray(pos - c.start, pos - c.start + n));
        } else {
          out.fill(0);
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
    // A CRC32 mismatch found by a read-ahead fails every later read too.
    if (this.verifier?.failure) throw this.verifier.failure;
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
      const kind = isDataChunk(c) ? 'data' : c.type === ChunkType.ZERO ? 'zero' : 'unallocated';
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

  /** Run `fn` with the streaming CRC32 verifier off (check() computes the CRCs itself and reports them). */
  async unverified<T>(fn: () => Promise<T>): Promise<T> {
    const v = this.verifier;
    this.verifier = undefined;
    this.cache.clear();
    try {
      return await fn();
    } finally {
      this.cache.clear();
      this.verifier = v && new StreamVerifier(this.blkx, this.chunks, this.koly, (b, o) => this.file.read(b, o), (d) => codecs().crc32(d));
    }
  }

  /** Per-partition facts: one per blkx entry. */
  partitions() {
    return partitionsOf(this.blkx);
  }

  /** Every resource other than blkx (plst, cSum, nsiz, size, …): names and sizes, cSum and nsiz decoded. */
  resources(): Record<string, unknown[]> {
    return resourcesOf(this.plist);
  }

  async info(): Promise<Record<string, unknown>> {
    return describeImage(this);
  }

  async inspect(): Promise<Inspection> {
    return inspectImage(this);
  }

  async check(): Promise<CheckReport> {
    return this.unverified(() => checkImage(this));
  }
}
