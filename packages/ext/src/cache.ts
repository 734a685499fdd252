/** A bounded read cache of metadata: aligned chunks of the device, least recently used dropped first. */
import { TruncatedImageError, type BlockDevice } from '@diskit/core';

export class MetaCache {
  private chunks = new Map<number, Uint8Array>();
  /** Buffers of evicted chunks, read into again: the cache never allocates more than its bound. */
  private spare: Uint8Array[] = [];

  constructor(
    private readonly dev: BlockDevice,
    /** Chunk size: a power of two, at least the block size (inode tables are read 64 KiB at a time). */
    private readonly chunkSize = 256 << 10,
    private readonly maxChunks = 64,
  ) {}

  /**
   * `length` bytes at `offset`. A view into the cache when they lie in one chunk — valid until the
   * caller's next await (evicted buffers are reused), so callers that keep bytes copy them.
   */
  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    if (offset < 0 || offset + length > this.dev.size) throw new TruncatedImageError(what, offset, length, this.dev.size);
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    if (first === last) {
      const c = await this.chunk(first);
      const at = offset - first * this.chunkSize;
      return c.subarray(at, at + length);
    }
    if (length > this.chunkSize * 4) {
      const out = new Uint8Array(length);
      await this.dev.read(out, offset);
      return out;
    }
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const c = await this.chunk(i);
      const start = i * this.chunkSize;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + c.length);
      out.set(c.subarray(from - start, to - start), from - offset);
    }
    return out;
  }

  /**
   * Read the chunks holding these byte offsets that are not cached yet, several at a time: a
   * directory's inodes are usually a few neighbouring chunks, and waiting for each in turn is
   * what a listing would otherwise spend its time on.
   */
  async prefetch(offsets: number[]): Promise<void> {
    const want = new Set<number>();
    for (const o of offsets) {
      const i = Math.floor(o / this.chunkSize);
      if (!this.chunks.has(i) && o < this.dev.size) want.add(i);
      if (want.size >= this.maxChunks / 2) break;
    }
    const list = [...want];
    const lanes = Array.from({ length: Math.min(4, list.length) }, async (_, lane) => {
      for (let k = lane; k < list.length; k += 4) await this.chunk(list[k]!).catch(() => undefined);
    });
    await Promise.all(lanes);
  }

  /** The bytes when they are cached and lie in one chunk (no await: the hot path of inode reads). */
  peek(offset: number, length: number): Uint8Array | undefined {
    const i = Math.floor(offset / this.chunkSize);
    if (Math.floor((offset + length - 1) / this.chunkSize) !== i) return undefined;
    const c = this.hit(i);
    if (!c) return undefined;
    const at = offset - i * this.chunkSize;
    return at + length <= c.length ? c.subarray(at, at + length) : undefined;
  }

  private last = -1;
  private hit(i: number): Uint8Array | undefined {
    const c = this.chunks.get(i);
    if (c && i !== this.last) {
      // Most recently used goes last; repeated hits on the same chunk skip the reordering.
      this.chunks.delete(i);
      this.chunks.set(i, c);
      this.last = i;
    }
    return c;
  }

  private async chunk(i: number): Promise<Uint8Array> {
    const hit = this.hit(i);
    if (hit) return hit;
    const start = i * this.chunkSize;
    const len = Math.min(this.chunkSize, this.dev.size - start);
    const reuse = len === this.chunkSize ? this.spare.pop() : undefined;
    const buf = reuse ?? new Uint8Array(len);
    try {
      await this.dev.read(buf, start);
    } catch (e) {
      if (reuse) this.spare.push(reuse);
      throw e;
    }
    if (this.chunks.size >= this.maxChunks) {
      const old = this.chunks.keys().next().value!;
      const b = this.chunks.get(old)!;
      this.chunks.delete(old);
      if (b.length === this.chunkSize) this.spare.push(b);
    }
    this.chunks.set(i, buf);
    this.last = i;
    return buf;
  }
}
