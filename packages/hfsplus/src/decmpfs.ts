/**
 * Transparent compression (decmpfs): a `com.apple.decmpfs` attribute says how the file's bytes are
 * stored: inline in the attribute (types 1, 3, 7, 11) or in the resource fork as 64 KiB chunks
 * (types 4, 8, 12); zlib, LZVN or LZFSE. The data fork of such a file is empty.
 */
import { CorruptImageError, ReadOnlyDevice, UnsupportedFeatureError, checkRange, type BlockDevice } from '@diskit/core';
import { codecs, lzfseDecode, lzvnDecode } from '@diskit/dmg';

export const DECMPFS_XATTR = 'com.apple.decmpfs';
const MAGIC = 0x636d7066; // 'fpmc' read little-endian
const CHUNK = 65536;
/** Inline data decodes in one piece: refuse a claimed size past this (the attribute is a few KiB). */
const MAX_INLINE = 64 << 20;
/** A resource fork's chunk table: refuse more chunks than this (2^20 chunks = 64 GiB). */
const MAX_CHUNKS = 1 << 20;

export interface DecmpfsHeader {
  type: number;
  size: number;
  /** Bytes after the 16-byte header (inline data). */
  inline: Uint8Array;
}

/**
 * The uncompressed size a header claims, checked where that costs nothing: inline data cannot
 * hold more than MAX_INLINE (a listing never shows a size the file cannot be read at).
 */
export function claimedSize(h: DecmpfsHeader, where: number): number {
  const m = decmpfsMethod(h.type);
  if (m && !m.inResourceFork && h.size > MAX_INLINE) throw new CorruptImageError('decmpfs header', where + 8, `an inline file of at most ${MAX_INLINE} bytes`, `${h.size} bytes`);
  return h.size;
}

export function parseDecmpfs(b: Uint8Array, where: number): DecmpfsHeader {
  if (b.length < 16) throw new CorruptImageError('decmpfs header', where, '16 bytes', `${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0, true) !== MAGIC) throw new CorruptImageError('decmpfs header', where, "magic 'fpmc'", `0x${v.getUint32(0, true).toString(16)}`);
  const hi = v.getUint32(12, true);
  if (hi >= 0x200000) throw new CorruptImageError('decmpfs header', where + 8, 'an uncompressed size below 2^53', `high word ${hi}`);
  return { type: v.getUint32(4, true), size: hi * 2 ** 32 + v.getUint32(8, true), inline: b.subarray(16) };
}

type Method = 'none' | 'zlib' | 'lzvn' | 'lzfse';
const INLINE: Record<number, Method> = { 1: 'none', 3: 'zlib', 7: 'lzvn', 11: 'lzfse' };
const RSRC: Record<number, Method> = { 4: 'zlib', 8: 'lzvn', 12: 'lzfse' };

export function decmpfsMethod(type: number): { method: Method; inResourceFork: boolean } | undefined {
  if (INLINE[type]) return { method: INLINE[type]!, inResourceFork: false };
  if (RSRC[type]) return { method: RSRC[type]!, inResourceFork: true };
  return undefined;
}

/** Decode one compressed unit to exactly `size` bytes; each method marks a stored (raw) unit with its first byte. */
async function decodeUnit(method: Method, src: Uint8Array, size: number, what: string, where: number): Promise<Uint8Array> {
  const stored = method === 'none' || (method === 'zlib' && (src[0]! & 0x0f) === 0x0f) || (method === 'lzvn' && src[0] === 0x06) || (method === 'lzfse' && src[0] === 0xff);
  try {
    if (stored) {
      const raw = method === 'none' ? src : src.subarray(1);
      if (raw.length < size) throw new Error(`${raw.length} stored bytes`);
      return raw.subarray(0, size);
    }
    if (method === 'zlib') return await codecs().inflate(src, size);
    if (method === 'lzfse') return lzfseDecode(src, size);
    const out = new Uint8Array(size);
    const got = lzvnDecode(src, 0, src.length, out, 0, size);
    if (got !== size) throw new Error(`LZVN stream decoded to ${got} bytes`);
    return out;
  } catch (e) {
    if (e instanceof CorruptImageError) throw e;
    throw new CorruptImageError(what, where, `${method} data of ${size} bytes`, (e as Error).message);
  }
}

/** Where each chunk of a resource-fork-compressed file lies in the fork. */
interface ChunkTable {
  offsets: number[];
  lengths: number[];
}

async function readU32s(fork: BlockDevice, off: number, n: number, le: boolean): Promise<number[]> {
  const b = new Uint8Array(n * 4);
  await fork.read(b, off);
  const v = new DataView(b.buffer);
  return Array.from({ length: n }, (_, i) => v.getUint32(i * 4, le));
}

async function chunkTable(method: Method, fork: BlockDevice, size: number, where: number): Promise<ChunkTable> {
  const count = Math.ceil(size / CHUNK);
  const bad = (expected: string, found: string) => new CorruptImageError('decmpfs resource fork', where, expected, found);
  // The table's own count is checked against the claimed size before anything is allocated.
  let base = 0, n: number;
  if (method === 'zlib') {
    // A classic resource fork: a header, then one 'cmpf' resource holding a chunk table.
    if (fork.size < 264) throw bad('a resource fork header and chunk table', `${fork.size} bytes`);
    const [dataOffset] = await readU32s(fork, 0, 1, false);
    base = dataOffset! + 4;
    if (base + 4 > fork.size) throw bad('a chunk table inside the fork', `data offset ${dataOffset}`);
    n = (await readU32s(fork, base, 1, true))[0]!;
  } else {
    // LZVN / LZFSE: the fork starts with count + 1 little-endian offsets.
    if (fork.size < 8) throw bad('a chunk offset table', `${fork.size} bytes`);
    const first = (await readU32s(fork, 0, 1, true))[0]!;
    n = first / 4 - 1;
  }
  if (n !== count) throw bad(`${count} chunks for the ${size} bytes the header claims`, `a table of ${n} chunks`);
  if (count > MAX_CHUNKS) throw new UnsupportedFeatureError(`decmpfs file of ${size} bytes: more than ${MAX_CHUNKS} chunks`);
  const offsets: number[] = [], lengths: number[] = [];
  if (method === 'zlib') {
    if (base + 4 + count * 8 > fork.size) throw bad(`a table of ${count} chunks inside the fork`, `${fork.size} bytes`);
    const t = await readU32s(fork, base + 4, 2 * count, true);
    for (let i = 0; i < count; i++) {
      offsets.push(base + t[2 * i]!);
      lengths.push(t[2 * i + 1]!);
    }
  } else {
    if ((count + 1) * 4 > fork.size) throw bad(`a table of ${count + 1} offsets`, `${fork.size} bytes`);
    const t = await readU32s(fork, 0, count + 1, true);
    for (let i = 0; i < count; i++) {
      offsets.push(t[i]!);
      lengths.push(t[i + 1]! - t[i]!);
    }
  }
  return check({ offsets, lengths }, fork, bad);
}

function check(t: ChunkTable, fork: BlockDevice, bad: (e: string, f: string) => Error): ChunkTable {
  t.offsets.forEach((o, i) => {
    const l = t.lengths[i]!;
    if (l <= 0 || l > CHUNK + 1024 || o + l > fork.size) throw bad(`chunk ${i} inside the fork (at most ${CHUNK + 1024} bytes)`, `${l} bytes at ${o}`);
  });
  return t;
}

/** The uncompressed bytes of a decmpfs file, decoded chunk by chunk on demand. */
export class DecmpfsDevice extends ReadOnlyDevice {
  private last?: { index: number; data: Uint8Array };

  private constructor(
    readonly size: number,
    private readonly method: Method,
    private readonly where: number,
    private readonly inline?: Uint8Array,
    private readonly fork?: BlockDevice,
    private readonly table?: ChunkTable,
  ) {
    super();
  }

  /** `resourceFork` is opened only for the resource-fork types. */
  static async open(h: DecmpfsHeader, where: number, resourceFork: () => Promise<BlockDevice>): Promise<DecmpfsDevice> {
    const m = decmpfsMethod(h.type);
    if (!m) throw new UnsupportedFeatureError(`decmpfs compression type ${h.type} is not supported (1, 3, 4, 7, 8, 11, 12 are)`);
    if (!m.inResourceFork) {
      if (h.size > MAX_INLINE) throw new CorruptImageError('decmpfs header', where + 8, `an inline file of at most ${MAX_INLINE} bytes`, `${h.size} bytes`);
      if (h.size > 0 && h.inline.length === 0) throw new CorruptImageError('decmpfs header', where, `inline data for ${h.size} bytes`, 'none');
      return new DecmpfsDevice(h.size, m.method, where, h.inline);
    }
    const fork = await resourceFork();
    return new DecmpfsDevice(h.size, m.method, where, undefined, fork, await chunkTable(m.method, fork, h.size, where));
  }

  private async chunk(i: number): Promise<Uint8Array> {
    if (this.last?.index === i) return this.last.data;
    let data: Uint8Array;
    if (this.inline) data = await decodeUnit(this.method, this.inline, this.size, 'decmpfs inline data', this.where);
    else {
      const t = this.table!;
      const src = new Uint8Array(t.lengths[i]!);
      await this.fork!.read(src, t.offsets[i]!);
      data = await decodeUnit(this.method, src, Math.min(CHUNK, this.size - i * CHUNK), `decmpfs chunk ${i}`, this.where);
    }
    this.last = { index: i, data };
    return data;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    const unit = this.inline ? Math.max(1, this.size) : CHUNK;
    for (let pos = offset; pos < offset + into.length; ) {
      const i = Math.floor(pos / unit);
      const data = await this.chunk(this.inline ? 0 : i);
      const inChunk = pos - i * unit;
      const n = Math.min(offset + into.length - pos, data.length - inChunk);
      into.set(data.subarray(inChunk, inChunk + n), pos - offset);
      pos += n;
    }
  }
}
