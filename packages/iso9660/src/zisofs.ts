/** zisofs ('pz', RRIP ZF): per-block zlib streams behind a pointer table; inflated on read. */
import { CorruptImageError, ReadOnlyDevice, UnsupportedFeatureError, checkRange, type BlockDevice } from '@diskit/core';

const MAGIC = [0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07];

/** Inflate a zlib stream (RFC 1950). A seam: replace for environments without DecompressionStream. */
export let inflateZlib = async (data: Uint8Array, expected: number): Promise<Uint8Array> => {
  const ds = new DecompressionStream('deflate');
  const out = new Uint8Array(expected);
  let got = 0;
  const writer = ds.writable.getWriter();
  writer.write(data).catch(() => {});
  writer.close().catch(() => {});
  const reader = ds.readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > expected) throw new RangeError('zisofs block inflates past its size');
    out.set(value, got);
    got += value.length;
  }
  return got === expected ? out : out.subarray(0, got);
};
export function setInflate(fn: typeof inflateZlib): void {
  inflateZlib = fn;
}

export class ZisofsDevice extends ReadOnlyDevice {
  private cacheIndex = -1;
  private cacheData: Uint8Array | undefined;
  private constructor(
    private readonly raw: BlockDevice,
    readonly size: number,
    private readonly blockSize: number,
    private readonly pointers: number[],
    private readonly name: string,
  ) {
    super();
  }

  static async open(raw: BlockDevice, size: number, name: string): Promise<ZisofsDevice> {
    if (raw.size < 16) throw new CorruptImageError(`zisofs header of ${name}`, 0, '16 bytes', `${raw.size}`);
    const h = new Uint8Array(16);
    await raw.read(h, 0);
    for (let i = 0; i < 8; i++) {
      if (h[i] !== MAGIC[i]) throw new CorruptImageError(`zisofs header of ${name}`, 0, 'zisofs magic 37 E4 53 96 C9 DB D6 07');
    }
    const v = new DataView(h.buffer);
    const usize = v.getUint32(8, true);
    const hsize = h[12]! * 4;
    const log2 = h[13]!;
    if (log2 < 15 || log2 > 17) throw new UnsupportedFeatureError(`${name}: zisofs block size 2^${log2}`);
    const bs = 1 << log2;
    const n = Math.ceil(usize / bs);
    if (hsize < 16 || hsize + (n + 1) * 4 > raw.size) throw new CorruptImageError(`zisofs block table of ${name}`, hsize, `${n + 1} pointers inside ${raw.size} bytes`);
    const tb = new Uint8Array((n + 1) * 4);
    await raw.read(tb, hsize);
    const tv = new DataView(tb.buffer);
    const pointers: number[] = [];
    for (let i = 0; i <= n; i++) pointers.push(tv.getUint32(i * 4, true));
    for (let i = 0; i < n; i++) {
      if (pointers[i + 1]! < pointers[i]! || pointers[i + 1]! > raw.size) {
        throw new CorruptImageError(`zisofs block table of ${name}`, hsize + i * 4, `increasing pointers inside ${raw.size} bytes`);
      }
    }
    return new ZisofsDevice(raw, Math.min(usize, size || usize), bs, pointers, name);
  }

  private async block(i: number): Promise<Uint8Array> {
    if (i === this.cacheIndex) return this.cacheData!;
    const len = Math.min(this.blockSize, this.size - i * this.blockSize);
    const a = this.pointers[i]!, b = this.pointers[i + 1]!;
    let out: Uint8Array;
    if (b === a) out = new Uint8Array(len);
    else {
      const comp = new Uint8Array(b - a);
      await this.raw.read(comp, a);
      try {
        out = await inflateZlib(comp, len);
      } catch (e) {
        throw new CorruptImageError(`zisofs block ${i} of ${this.name}`, a, 'a valid zlib stream', String((e as Error).message ?? e));
      }
      if (out.length !== len) throw new CorruptImageError(`zisofs block ${i} of ${this.name}`, a, `${len} bytes inflated`, `${out.length}`);
    }
    this.cacheIndex = i;
    this.cacheData = out;
    return out;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    let pos = offset;
    const end = offset + into.length;
    while (pos < end) {
      const i = Math.floor(pos / this.blockSize);
      const blk = await this.block(i);
      const s = pos - i * this.blockSize;
      const n = Math.min(blk.length - s, end - pos);
      into.set(blk.subarray(s, s + n), pos - offset);
      pos += n;
    }
  }
}
