/**
 * Transparent compression (the com.apple.decmpfs attribute): the data inline in the attribute
 * (types 1, 3 zlib, 7 LZVN, 11 LZFSE) or in 64 KiB chunks in the resource fork (4 zlib, 8 LZVN,
 * 12 LZFSE). The size in the header is the file's size, as macOS shows it.
 */
import { CorruptImageError, MemoryDevice, ReadOnlyDevice, UnsupportedFeatureError, checkRange, type BlockDevice } from '@diskit/core';
import { codecs, lzfseDecode, lzvnDecode } from '@diskit/dmg';
import { u64, view } from './object.js';

export const DECMPFS_MAGIC = 0x636d7066; // 'fpmc'
const CHUNK = 0x10000;
/** Inline data never decompresses to more than this (macOS keeps inline data small). */
const MAX_INLINE = 16 << 20;
const MAX_SIZE = 2 ** 48;

export interface DecmpfsHeader {
  type: number;
  size: number;
}

export function parseDecmpfs(b: Uint8Array, what: string): DecmpfsHeader {
  if (b.length < 16) throw new CorruptImageError(`decmpfs header of ${what}`, 0, '16 bytes', String(b.length));
  const dv = view(b);
  const magic = dv.getUint32(0, true);
  if (magic !== DECMPFS_MAGIC) throw new CorruptImageError(`decmpfs header of ${what}`, 0, "magic 'fpmc'", `0x${magic.toString(16)}`);
  const size = u64(dv, 8, 'decmpfs size', 0);
  if (size > MAX_SIZE) throw new CorruptImageError(`decmpfs header of ${what}`, 8, `a size below 2^48`, String(size));
  return { type: dv.getUint32(4, true), size };
}

type Algo = 'zlib' | 'lzvn' | 'lzfse';
const INLINE: Record<number, Algo | 'raw'> = { 1: 'raw', 3: 'zlib', 7: 'lzvn', 11: 'lzfse' };
const IN_FORK: Record<number, Algo> = { 4: 'zlib', 8: 'lzvn', 12: 'lzfse' };

export function decmpfsUsesResourceFork(type: number): boolean {
  return type in IN_FORK;
}

/** Decode one compressed unit into exactly `size` bytes; a unit that says it is stored is copied. */
async function decode(algo: Algo, src: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const fail = (why: string) => new CorruptImageError(`compressed data of ${what}`, 0, `${algo} data of ${size} bytes`, why);
  // A stored unit: a marker byte, then the bytes themselves.
  // (An LZFSE stream starts with 'bvx', so either marker is unambiguous there.)
  const marker = algo === 'zlib' ? (src[0]! & 0x0f) === 0x0f : algo === 'lzvn' ? src[0] === 0x06 : src[0] === 0x06 || src[0] === 0xff;
  if (src.length === size + 1 && marker) return src.slice(1);
  if (src.length === 0) throw fail('no data');
  try {
    if (algo === 'zlib') {
      const out = await codecs().inflate(src, size);
      if (out.length !== size) throw fail(`${out.length} bytes`);
      return out;
    }
    if (algo === 'lzfse') return lzfseDecode(src, size);
    const out = new Uint8Array(size);
    const got = lzvnDecode(src, 0, src.length, out, 0, size);
    if (got !== size) throw fail(`${got} bytes`);
    return out;
  } catch (e) {
    if (e instanceof CorruptImageError) throw e;
    throw fail((e as Error).message);
  }
}

/** The decompressed file: `attr` is the decmpfs attribute's value, `fork` opens the resource fork. */
export async function openDecmpfs(attr: Uint8Array, fork: () => Promise<BlockDevice | undefined>, what: string): Promise<BlockDevice> {
  const h = parseDecmpfs(attr, what);
  const inline = INLINE[h.type];
  if (inline) {
    if (h.size > MAX_INLINE) throw new CorruptImageError(`decmpfs header of ${what}`, 8, `an inline size ≤ ${MAX_INLINE}`, String(h.size));
    const body = attr.subarray(16);
    if (inline === 'raw') {
      if (body.length < h.size) throw new CorruptImageError(`decmpfs data of ${what}`, 16, `${h.size} stored bytes`, String(body.length));
      return new MemoryDevice(body.slice(0, h.size), { readOnly: true });
    }
    if (h.size === 0) return new MemoryDevice(new Uint8Array(0), { readOnly: true });
    return new MemoryDevice(await decode(inline, body, h.size, what), { readOnly: true });
  }
  const algo = IN_FORK[h.type];
  if (!algo) throw new UnsupportedFeatureError(`${what}: decmpfs compression type ${h.type} is not supported`);
  const rsrc = await fork();
  if (!rsrc) throw new CorruptImageError(`resource fork of ${what}`, 0, `a resource fork holding the compressed data (decmpfs type ${h.type})`, 'none');
  const chunks = algo === 'zlib' ? await zlibChunkTable(rsrc, h.size, what) : await offsetChunkTable(rsrc, h.size, what);
  return new ChunkedDevice(rsrc, chunks, h.size, algo, what);
}

interface Chunk {
  offset: number;
  length: number;
}

const MAX_CHUNK_BYTES = CHUNK + 4096;

function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK);
}

/** Types 8 and 12: a table of n+1 little-endian u32 offsets at the start of the fork. */
async function offsetChunkTable(rsrc: BlockDevice, size: number, what: string): Promise<Chunk[]> {
  const n = chunkCount(size);
  const tableBytes = (n + 1) * 4;
  if (tableBytes > rsrc.size) throw new CorruptImageError(`chunk table of ${what}`, 0, `${n + 1} offsets inside the ${rsrc.size}-byte resource fork`, `a ${size}-byte file`);
  const t = new Uint8Array(tableBytes);
  await rsrc.read(t, 0);
  const dv = view(t);
  const out: Chunk[] = [];
  for (let i = 0; i < n; i++) {
    const s = dv.getUint32(i * 4, true), e = dv.getUint32(i * 4 + 4, true);
    if (s < tableBytes || e < s || e > rsrc.size || e - s > MAX_CHUNK_BYTES) {
      throw new CorruptImageError(`chunk table of ${what}`, i * 4, `chunk ${i} inside the resource fork after the table`, `bytes ${s}..${e} of ${rsrc.size}`);
    }
    out.push({ offset: s, length: e - s });
  }
  return out;
}

/** Type 4: a classic resource fork whose first resource is a block table of (offset, length) pairs. */
async function zlibChunkTable(rsrc: BlockDevice, size: number, what: string): Promise<Chunk[]> {
  const n = chunkCount(size);
  if (rsrc.size < 16) throw new CorruptImageError(`resource fork of ${what}`, 0, 'a 16-byte resource header', `${rsrc.size} bytes`);
  const head = new Uint8Array(16);
  await rsrc.read(head, 0);
  const dataOff = view(head).getUint32(0, false);
  const base = dataOff + 4;
  const tableBytes = 4 + n * 8;
  if (base + tableBytes > rsrc.size) throw new CorruptImageError(`resource fork of ${what}`, 0, `a block table of ${n} entries inside the fork`, `data at ${dataOff} of ${rsrc.size}`);
  const t = new Uint8Array(tableBytes);
  await rsrc.read(t, base);
  const dv = view(t);
  const count = dv.getUint32(0, true);
  if (count !== n) throw new CorruptImageError(`block table of ${what}`, base, `${n} blocks for ${size} bytes`, String(count));
  const out: Chunk[] = [];
  for (let i = 0; i < n; i++) {
    const off = base + dv.getUint32(4 + i * 8, true), len = dv.getUint32(8 + i * 8, true);
    if (off + len > rsrc.size || len > MAX_CHUNK_BYTES) throw new CorruptImageError(`block table of ${what}`, base + 4 + i * 8, `block ${i} inside the resource fork`, `${len} bytes at ${off} of ${rsrc.size}`);
    out.push({ offset: off, length: len });
  }
  return out;
}

/** Decompresses 64 KiB chunks on demand: a read's chunks are fetched in one run and decoded together. */
class ChunkedDevice extends ReadOnlyDevice {
  private cache = new Map<number, Uint8Array>();
  constructor(
    private readonly rsrc: BlockDevice,
    private readonly chunks: Chunk[],
    readonly size: number,
    private readonly algo: Algo,
    private readonly what: string,
  ) {
    super();
  }

  private decodeChunk(i: number, src: Uint8Array): Promise<Uint8Array> {
    return decode(this.algo, src, Math.min(CHUNK, this.size - i * CHUNK), `${this.what} (chunk ${i})`);
  }

  /** Chunks first..last, decoded: cached ones kept, the rest read as one span (when they are laid out in order) and decoded concurrently. */
  private async load(first: number, last: number): Promise<Map<number, Uint8Array>> {
    const got = new Map<number, Uint8Array>();
    const need: number[] = [];
    for (let i = first; i <= last; i++) {
      const hit = this.cache.get(i);
      if (hit) got.set(i, hit);
      else need.push(i);
    }
    if (need.length) {
      const a = this.chunks[need[0]!]!, z = this.chunks[need[need.length - 1]!]!;
      const span = z.offset + z.length - a.offset;
      const inOrder = need.every((i, k) => k === 0 || this.chunks[i]!.offset >= this.chunks[need[k - 1]!]!.offset + this.chunks[need[k - 1]!]!.length);
      let srcs: Uint8Array[];
      if (inOrder && span <= 32 << 20) {
        const buf = new Uint8Array(span);
        await this.rsrc.read(buf, a.offset);
        srcs = need.map((i) => buf.subarray(this.chunks[i]!.offset - a.offset, this.chunks[i]!.offset - a.offset + this.chunks[i]!.length));
      } else {
        srcs = [];
        for (const i of need) {
          const c = this.chunks[i]!;
          const b = new Uint8Array(c.length);
          await this.rsrc.read(b, c.offset);
          srcs.push(b);
        }
      }
      const out = await Promise.all(need.map((i, k) => this.decodeChunk(i, srcs[k]!)));
      need.forEach((i, k) => got.set(i, out[k]!));
      // Only the last chunk is kept: the next small read usually continues there.
      const i = need[need.length - 1]!;
      this.cache.set(i, got.get(i)!);
      if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value!);
    }
    return got;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    if (into.length === 0) return;
    const end = offset + into.length;
    const first = Math.floor(offset / CHUNK), last = Math.floor((end - 1) / CHUNK);
    // At most 256 chunks (16 MiB of output) are decoded at once.
    for (let g = first; g <= last; g += 256) {
      const chunks = await this.load(g, Math.min(last, g + 255));
      for (const [i, data] of chunks) {
        const s = Math.max(offset, i * CHUNK), e = Math.min(end, i * CHUNK + data.length);
        if (e > s) into.set(data.subarray(s - i * CHUNK, e - i * CHUNK), s - offset);
      }
    }
  }
}
