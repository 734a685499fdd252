/**
 * Checks a UDIF's CRC32s while its data is read: each blkx's (CRC32 of its chunks' decompressed
 * bytes in table order, zero-fill chunks as zeros, free chunks left out) and the data fork's (CRC32
 * of the stored bytes). Reads may come in any order and any size: a chunk's CRC is taken once, when
 * it is decompressed whole, and CRCs are joined in table (or file) order with crc32Combine as soon
 * as the prefix is complete. A blkx whose CRC is wrong throws from the read that completes it.
 */
import { CorruptImageError } from '@diskit/core';
import { CHECKSUM_CRC32, ChunkType, SECTOR, checksumValue, type Koly, type UdifChecksum } from './udif.js';
import { crc32Combine } from './crc-combine.js';
import { isDataChunk, type BlkxEntry, type PlacedChunk } from './table.js';

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/** CRC32 of `n` zero bytes, by doubling (no buffer of zeros). */
export function zeroCrc(n: number): number {
  let crc = 0, pow = 0xd202ef8d; // pow = CRC32 of one zero byte, then of 2, 4, 8, ... zeros
  for (let len = 1; n > 0; len *= 2) {
    if (n % 2) crc = crc32Combine(crc, pow, len);
    n = Math.floor(n / 2);
    if (n > 0) pow = crc32Combine(pow, pow, len);
  }
  return crc;
}

/** Joins CRC32s of numbered pieces delivered in any order, in their numbered order. */
class OrderedCrc {
  next = 0;
  crc = 0;
  private pending = new Map<number, [crc: number, len: number]>();
  constructor(readonly total: number) {}
  /** Piece `i` (0-based) has this CRC over `len` bytes; returns true when every piece is in. */
  add(i: number, crc: number, len: number): boolean {
    if (i >= this.next && !this.pending.has(i)) this.pending.set(i, [crc, len]);
    for (let p = this.pending.get(this.next); p; p = this.pending.get(this.next)) {
      this.pending.delete(this.next++);
      this.crc = crc32Combine(this.crc, p[0], p[1]);
    }
    return this.next === this.total;
  }
}

interface BlkxState {
  entry: BlkxEntry;
  want: number;
  /** Mish chunk index → position among the counted chunks. */
  order: Map<number, number>;
  crc: OrderedCrc;
  done: boolean;
  /** File offset of its first stored byte (for the error). */
  at: number;
}

interface ForkPiece {
  at: number;
  len: number;
  /** The data chunk stored here; a gap between chunks has none. */
  chunk?: PlacedChunk;
}

const verifiable = (c: UdifChecksum) => c.type === CHECKSUM_CRC32 && c.size === 32;

export class StreamVerifier {
  /** The first mismatch found: every later read fails with it too. */
  failure?: CorruptImageError;
  private readonly blkx = new Map<number, BlkxState>();
  private readonly fork?: { order: Map<PlacedChunk, number>; crc: OrderedCrc; pieces: ForkPiece[]; done: boolean };

  constructor(
    blkx: BlkxEntry[],
    chunks: PlacedChunk[],
    private readonly koly: Koly,
    private readonly readFile: (into: Uint8Array, offset: number) => Promise<void>,
    private readonly crc32: (d: Uint8Array) => number,
  ) {
    for (const b of blkx) {
      if (!verifiable(b.mish.checksum)) continue;
      const order = new Map<number, number>();
      const counted = b.mish.chunks.map((c, i) => [c, i] as const).filter(([c]) => c.type === ChunkType.ZERO || isDataChunk(c));
      if (counted.length === 0) continue;
      counted.forEach(([, i], k) => order.set(i, k));
      const st: BlkxState = { entry: b, want: checksumValue(b.mish.checksum), order, crc: new OrderedCrc(counted.length), done: false, at: 0 };
      const first = counted.find(([c]) => c.type !== ChunkType.ZERO);
      st.at = koly.dataForkOffset + b.mish.dataOffset + (first ? first[0].compressedOffset : 0);
      this.blkx.set(b.index, st);
      // Zero-fill chunks are known now; empty ones count as nothing.
      for (const [c, i] of counted) {
        if (c.type === ChunkType.ZERO || c.sectorCount === 0) st.crc.add(order.get(i)!, c.type === ChunkType.ZERO ? zeroCrc(c.sectorCount * SECTOR) : 0, c.sectorCount * SECTOR);
      }
    }
    if (verifiable(koly.dataChecksum)) {
      // The data fork in file order: each data chunk's stored bytes, and the gaps between them.
      const data = chunks.filter((c) => isDataChunk(c)).sort((a, b) => a.fileOffset - b.fileOffset);
      const pieces: ForkPiece[] = [];
      const order = new Map<PlacedChunk, number>();
      let pos = koly.dataForkOffset;
      let sound = true;
      for (const c of data) {
        if (c.fileOffset < pos) sound = false; // chunks sharing stored bytes: no single order to check
        else if (c.fileOffset > pos) pieces.push({ at: pos, len: c.fileOffset - pos });
        order.set(c, pieces.length);
        pieces.push({ at: c.fileOffset, len: c.fileLength, chunk: c });
        pos = Math.max(pos, c.fileOffset + c.fileLength);
      }
      const end = koly.dataForkOffset + koly.dataForkLength;
      if (pos < end) pieces.push({ at: pos, len: end - pos });
      if (sound && pieces.length > 0) this.fork = { order, crc: new OrderedCrc(pieces.length), pieces, done: false };
    }
  }

  /**
   * Chunk `c` was read whole: `crc` of its decompressed bytes (c.length of them) and `storedCrc`
   * of its stored bytes. Throws CorruptImageError when this completes a blkx (or the data fork)
   * whose CRC32 differs.
   */
  async chunk(c: PlacedChunk, crc: number, storedCrc: number): Promise<void> {
    if (this.failure) throw this.failure;
    const st = this.blkx.get(c.blkx);
    const k = st && !st.done ? st.order.get(c.index) : undefined;
    if (st && k !== undefined && st.crc.add(k, crc, c.length)) {
      st.done = true;
      if (st.crc.crc !== st.want) {
        const m = st.entry.mish;
        this.fail(new CorruptImageError(
          `blkx[${st.entry.index}] "${st.entry.name}" CRC32 (disk bytes ${m.sectorNumber * SECTOR}..${(m.sectorNumber + m.sectorCount) * SECTOR})`,
          st.at, hex(st.want), `${hex(st.crc.crc)} over the data read (--no-verify reads it anyway)`,
        ));
      }
    }
    const f = this.fork;
    const fk = f && !f.done ? f.order.get(c) : undefined;
    if (!f || fk === undefined) return;
    let complete = f.crc.add(fk, storedCrc, c.fileLength);
    // A gap between chunks is read when everything before it is in (rare: hdiutil packs the fork).
    for (let g = f.pieces[f.crc.next]; !complete && g && !g.chunk; g = f.pieces[f.crc.next]) {
      complete = f.crc.add(f.crc.next, await this.crcOfFile(g.at, g.len), g.len);
    }
    if (complete) {
      f.done = true;
      const want = checksumValue(this.koly.dataChecksum);
      if (f.crc.crc !== want) {
        this.fail(new CorruptImageError('koly.dataChecksum (CRC32 of the data fork)', this.koly.dataForkOffset, hex(want), `${hex(f.crc.crc)} (--no-verify reads it anyway)`));
      }
    }
  }

  private fail(e: CorruptImageError): never {
    this.failure = e;
    throw e;
  }

  private async crcOfFile(at: number, len: number): Promise<number> {
    let crc = 0;
    const buf = new Uint8Array(Math.min(len, 1 << 20));
    for (let p = 0; p < len; p += buf.length) {
      const v = buf.subarray(0, Math.min(buf.length, len - p));
      await this.readFile(v, at + p);
      crc = crc32Combine(crc, this.crc32(v), v.length);
    }
    return crc;
  }
}
