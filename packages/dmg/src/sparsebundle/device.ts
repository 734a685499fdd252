/**
 * The bytes of a sparse bundle as one BlockDevice: band n is the file `bands/<n in hex>`. A band
 * with no file is a hole (`unallocated`); a band file shorter than the band reads as zeros past
 * its end (`zero`). It is a plain device, so a decryption layer (encrcdsa) can sit on it.
 */
import {
  CorruptImageError, DeviceRangeError, blockPieces, checkRange, extentWindow,
  type BlockDevice, type DirectorySource, type Extent,
} from '@diskit/core';

/** Band files kept open at once (the least recently used idle one is closed first). */
const OPEN_BANDS = 16;

interface OpenBand {
  dev: Promise<BlockDevice>;
  users: number;
}

export class BundleDevice implements BlockDevice {
  readonly readOnly = true;
  /** Band numbers with a file, ascending. */
  readonly present: Float64Array;
  private readonly open = new Map<number, OpenBand>();

  /** `names`: band number → file name in `bands/`, for the bands that have a file. */
  constructor(
    readonly dir: DirectorySource,
    readonly size: number,
    readonly bandSize: number,
    private readonly names: Map<number, string>,
  ) {
    this.present = Float64Array.from([...names.keys()].sort((a, b) => a - b));
  }

  /** Band numbers from the names in `bands/`: lowercase hex, as hdiutil writes them; other names are ignored. */
  static bandNames(names: string[]): { bands: Map<number, string>; foreign: string[] } {
    const bands = new Map<number, string>();
    const foreign: string[] = [];
    for (const name of names) {
      if (!/^[0-9a-f]{1,13}$/.test(name) || (name.length > 1 && name[0] === '0')) {
        foreign.push(name);
        continue;
      }
      bands.set(parseInt(name, 16), name);
    }
    return { bands, foreign };
  }

  /** Run `fn` on band `band`'s open file (undefined when there is none), keeping it open meanwhile. */
  private async withBand<T>(band: number, fn: (dev: BlockDevice | undefined) => Promise<T>): Promise<T> {
    const name = this.names.get(band);
    if (name === undefined) return fn(undefined);
    let o = this.open.get(band);
    if (o) this.open.delete(band); // re-inserted below: the Map's order is the recency order
    else o = { dev: this.openBand(band, name), users: 0 };
    this.open.set(band, o);
    o.users++;
    try {
      return await fn(await o.dev);
    } finally {
      o.users--;
      this.evict();
    }
  }

  private async openBand(band: number, name: string): Promise<BlockDevice> {
    const dev = await this.dir.open(`bands/${name}`);
    if (!dev) throw new CorruptImageError(`sparse bundle band file bands/${name}`, band * this.bandSize, 'the band file listed in bands/', 'none');
    if (dev.size > this.bandSize) {
      await dev.close();
      throw new CorruptImageError(`sparse bundle band file bands/${name}`, band * this.bandSize, `at most ${this.bandSize} bytes (band-size)`, `${dev.size} bytes`);
    }
    return dev;
  }

  private evict(): void {
    for (const [band, o] of this.open) {
      if (this.open.size <= OPEN_BANDS) return;
      if (o.users > 0) continue;
      this.open.delete(band);
      void o.dev.then((d) => d.close(), () => {});
    }
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const parts: Promise<void>[] = [];
    for (const { block: band, inBlock, at, length } of blockPieces(offset, into.length, this.bandSize)) {
      const piece = into.subarray(at, at + length);
      parts.push(
        this.withBand(band, async (dev) => {
          const have = dev ? Math.max(0, Math.min(length, dev.size - inBlock)) : 0;
          if (have > 0) await dev!.read(piece.subarray(0, have), inBlock);
          piece.fill(0, have);
        }),
      );
    }
    await Promise.all(parts);
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('sparse bundles open read-only (convert to write a new one)');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    const bs = this.bandSize;
    let pos = start;
    let lo = 0;
    let hi = this.present.length;
    const first = Math.floor(start / bs);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.present[mid]! < first) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.present.length && pos < end; i++) {
      const band = this.present[i]!;
      const bandStart = band * bs;
      if (bandStart >= end) break;
      if (bandStart > pos) yield { offset: pos, length: bandStart - pos, kind: 'unallocated' };
      pos = Math.max(pos, bandStart);
      const stop = Math.min(end, bandStart + bs);
      const inBand = pos - bandStart;
      const found: Extent[] = [];
      await this.withBand(band, async (dev) => {
        const have = Math.max(0, Math.min(stop - pos, dev!.size - inBand));
        if (have > 0) for await (const e of dev!.extents(inBand, have)) found.push({ offset: bandStart + e.offset, length: e.length, kind: e.kind === 'data' ? 'data' : 'zero' });
        if (have < stop - pos) found.push({ offset: pos + have, length: stop - pos - have, kind: 'zero' });
      });
      yield* found;
      pos = stop;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'unallocated' };
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((o) => o.dev.then((d) => d.close(), () => {})));
  }
}
