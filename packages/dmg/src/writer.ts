/** Writing UDIF images (UDZO zlib / UDBZ bzip2 / UDRO raw) from any BlockDevice, hole-aware and streaming. */
import {
  UsageError, isZero, randomGuid, guidToBytes,
  type BlockDevice, type CreateOptions, type ImageSink,
} from '@diskit/core';
import { readPartitionTable } from '@diskit/raw';
import { buildPlist, type PlistDict } from './plist.js';
import { ChunkType, KOLY_SIZE, SECTOR, crcChecksum, encodeKoly, encodeMish, type Chunk } from './udif.js';
import { masterCrc } from './check.js';
import { codecs, codecsReady } from './codecs.js';
import { crc32Combine } from './crc-combine.js';

/** hdiutil's chunk size: 2048 sectors (1 MiB). */
export const WRITE_CHUNK_SECTORS = 2048;
const WRITE_CHUNK = WRITE_CHUNK_SECTORS * SECTOR;
/** Free (zero) chunks are cut at 64 MiB: QEMU refuses any chunk with more sectors. */
const MAX_ZERO_CHUNK = 64 << 20;

export interface DmgWriteOptions {
  compression: 'zlib' | 'bzip2' | 'raw';
  /** zlib level 0–9 (hdiutil: 1), or the bzip2 block size 1–9 ×100 kB (hdiutil: 1, "BZh1"). */
  level: number;
  /** Threads packing chunks at once (Node: worker threads). */
  workers: number;
}

export function parseWriteOptions(o: Record<string, string> = {}): DmgWriteOptions {
  const out: DmgWriteOptions = { compression: 'zlib', level: 1, workers: codecs().concurrency };
  let level: number | undefined;
  for (const [k, v] of Object.entries(o)) {
    if (k === 'compression') {
      if (v === 'zlib' || v === 'udzo') out.compression = 'zlib';
      else if (v === 'bzip2' || v === 'udbz') out.compression = 'bzip2';
      else if (v === 'raw' || v === 'none' || v === 'udro') out.compression = 'raw';
      else throw new UsageError(`dmg: unknown compression "${v}" (zlib, bzip2, raw)`);
    } else if (k === 'level') {
      level = Number(v);
      if (!Number.isInteger(level) || level < 0 || level > 9) throw new UsageError(`dmg: level must be 0..9, got "${v}"`);
    } else if (k === 'workers') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`dmg: workers must be 1..256, got "${v}"`);
      out.workers = n;
    } else throw new UsageError(`dmg: unknown option "${k}" (compression, level, workers, encryption, iterations)`);
  }
  if (level !== undefined) {
    if (out.compression === 'bzip2' && level < 1) throw new UsageError('dmg: bzip2 level (block size) must be 1..9');
    out.level = level;
  }
  return out;
}

interface Range {
  start: number;
  end: number;
  name: string;
}

/** The blkx layout: one entry per partition (gaps as Apple_Free, sector 0 as the MBR), else the whole disk. */
async function layout(source: BlockDevice, diskSize: number): Promise<Range[]> {
  let table;
  try {
    table = await readPartitionTable(source);
  } catch {
    table = undefined;
  }
  const parts = (table?.partitions ?? [])
    .filter((p) => p.kind !== 'extended' && p.size > 0 && p.start % SECTOR === 0 && p.size % SECTOR === 0 && p.start >= SECTOR && p.start + p.size <= diskSize)
    .sort((a, b) => a.start - b.start);
  if (!table || table.scheme === 'none' || parts.length === 0) return [{ start: 0, end: diskSize, name: 'whole disk (Apple_HFS : 0)' }];
  const gpt = table.scheme === 'gpt';
  const ranges: Range[] = [];
  const push = (start: number, end: number, label: string) => ranges.push({ start, end, name: `${label} : ${ranges.length})` });
  push(0, SECTOR, gpt ? 'Protective Master Boot Record (MBR' : 'Master Boot Record (MBR');
  let pos = SECTOR;
  for (const p of parts) {
    if (p.start < pos) continue; // overlapping entry: its bytes are already covered
    if (p.start > pos) push(pos, p.start, ' (Apple_Free');
    const type = gpt ? (p.name || 'GPT partition') : mbrTypeName(p.type);
    push(p.start, p.start + p.size, `${gpt ? 'disk image' : ''} (${type.replace(/[():]/g, '_')}`);
    pos = p.start + p.size;
  }
  if (pos < diskSize) push(pos, diskSize, ' (Apple_Free');
  return ranges;
}

function mbrTypeName(t: string): string {
  const n = parseInt(t, 16);
  const names: Record<number, string> = { 0x01: 'DOS_FAT_12', 0x04: 'DOS_FAT_16_S', 0x06: 'Windows_FAT_16', 0x0b: 'Windows_FAT_32', 0x0c: 'Windows_FAT_32', 0x0e: 'Windows_FAT_16', 0x07: 'Windows_NTFS', 0x83: 'Linux', 0x82: 'Linux_Swap', 0xaf: 'Apple_HFS', 0xee: 'EFI' };
  return names[n] ?? `MBR_type_${t}`;
}

/** A stretch of the disk: a data window (at most 1 MiB, absolutely aligned) or a run of holes. */
type Piece = { start: number; length: number; data: boolean };

/** Plan [start, end) from the extent map: 1 MiB windows where data is, hole runs between them. */
async function* plan(source: BlockDevice, start: number, end: number): AsyncGenerator<Piece> {
  const srcEnd = Math.min(end, source.size);
  let pos = start;
  function* holes(a: number, b: number): Generator<Piece> {
    for (let p = a; p < b; p += MAX_ZERO_CHUNK) yield { start: p, length: Math.min(MAX_ZERO_CHUNK, b - p), data: false };
  }
  if (srcEnd > start) {
    for await (const e of source.extents(start, srcEnd - start)) {
      if (e.kind !== 'data') continue;
      // The window holding the extent's start may already be planned (the previous extent ended in it).
      let w = Math.max(pos, Math.floor(e.offset / WRITE_CHUNK) * WRITE_CHUNK);
      yield* holes(pos, w);
      for (const eEnd = e.offset + e.length; w < eEnd; ) {
        const we = Math.min(end, Math.floor(w / WRITE_CHUNK) * WRITE_CHUNK + WRITE_CHUNK);
        yield { start: w, length: we - w, data: true };
        w = pos = we;
      }
    }
  }
  yield* holes(pos, end);
}

/** driver.create: write `source` as a UDIF image into `sink`. */
export async function createDmg(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  await codecsReady();
  const o = parseWriteOptions(opts.options);
  const c = codecs();
  const sectors = Math.ceil(source.size / SECTOR);
  const diskSize = sectors * SECTOR;
  const ranges = await layout(source, diskSize);

  let forkPos = 0;
  let forkCrc = 0;
  const blkxDicts: PlistDict[] = [];
  const checksums = [];
  let done = 0;

  // Windows are read and packed `depth` at a time and written in order: two per worker thread
  // (one packing, one waiting) plus two being read or written. Each owns a buffer from the pool.
  const depth = 2 * o.workers + 2;
  const packedType = o.compression === 'bzip2' ? ChunkType.BZIP2 : ChunkType.ZLIB;
  const pool: Uint8Array[] = [];
  type Done = { piece: Piece; data?: Uint8Array; z?: Uint8Array; crc?: number };
  const work = async (piece: Piece): Promise<Done> => {
    if (!piece.data) return { piece };
    const buf = pool.pop() ?? new Uint8Array(WRITE_CHUNK);
    const view = buf.subarray(0, piece.length);
    // The last window may reach past the source (the disk is whole sectors): that part reads as zeros.
    const have = Math.max(0, Math.min(piece.length, source.size - piece.start));
    await source.read(view.subarray(0, have), piece.start);
    view.fill(0, have);
    if (isZero(view)) {
      pool.push(buf);
      return { piece };
    }
    if (o.compression === 'raw') return { piece, data: view };
    // The blkx checksum covers the decompressed bytes of data chunks (free chunks are left out,
    // as hdiutil does): pack() computes it beside the deflate.
    return { piece, ...(await c.pack(view, o.compression, o.level, o.workers)) };
  };

  for (const [bi, r] of ranges.entries()) {
    const chunks: Chunk[] = [];
    let blkCrc = 0;
    const base = r.start;
    const emit = async ({ piece, data: view, z, crc }: Done) => {
      const sectorNumber = (piece.start - base) / SECTOR;
      const sectorCount = piece.length / SECTOR;
      if (!view) {
        // Holes (and windows that held only zeros) merge into free chunks of up to 64 MiB.
        const last = chunks[chunks.length - 1];
        if (last?.type === ChunkType.IGNORE && last.sectorNumber + last.sectorCount === sectorNumber && (last.sectorCount + sectorCount) * SECTOR <= MAX_ZERO_CHUNK) {
          last.sectorCount += sectorCount;
        } else chunks.push({ type: ChunkType.IGNORE, comment: 0, sectorNumber, sectorCount, compressedOffset: forkPos, compressedLength: 0 });
      } else {
        const packed = z && z.length < view.length;
        const payload = packed ? z : view;
        await sink.write(payload, forkPos);
        if (!packed) {
          // Stored: the same bytes feed both CRCs, so compute once and combine.
          const k = crc ?? c.crc32(payload);
          forkCrc = crc32Combine(forkCrc, k, payload.length);
          blkCrc = crc32Combine(blkCrc, k, payload.length);
        } else {
          forkCrc = c.crc32(payload, forkCrc);
          blkCrc = crc32Combine(blkCrc, crc!, view.length);
        }
        chunks.push({ type: packed ? packedType : ChunkType.RAW, comment: 0, sectorNumber, sectorCount, compressedOffset: forkPos, compressedLength: payload.length });
        forkPos += payload.length;
        pool.push(new Uint8Array(view.buffer, 0, WRITE_CHUNK));
      }
      done += piece.length;
      opts.onProgress?.(done, diskSize);
    };
    const queue: Promise<Done>[] = [];
    try {
      for await (const piece of plan(source, r.start, r.end)) {
        const job = work(piece);
        job.catch(() => {});
        queue.push(job);
        if (queue.length >= depth) await emit(await queue.shift()!);
      }
      while (queue.length) await emit(await queue.shift()!);
    } finally {
      // On failure, let the windows still in flight finish before their buffers go away.
      await Promise.allSettled(queue);
    }
    const sectorCount = (r.end - r.start) / SECTOR;
    chunks.push({ type: ChunkType.TERMINATOR, comment: 0, sectorNumber: sectorCount, sectorCount: 0, compressedOffset: forkPos, compressedLength: 0 });
    const checksum = crcChecksum(blkCrc);
    checksums.push(checksum);
    const mish = encodeMish({
      signature: 'mish', version: 1, sectorNumber: r.start / SECTOR, sectorCount, dataOffset: 0,
      buffersNeeded: WRITE_CHUNK_SECTORS + 1, blockDescriptors: bi, reserved: new Uint8Array(24), checksum, chunks,
    });
    blkxDicts.push({ Attributes: '0x0050', CFName: r.name, Data: mish, ID: String(bi), Name: r.name });
  }

  const xml = new TextEncoder().encode(buildPlist({ 'resource-fork': { blkx: blkxDicts } }));
  await sink.write(xml, forkPos);
  const koly = encodeKoly({
    signature: 'koly', version: 4, headerSize: KOLY_SIZE, flags: 1, runningDataForkOffset: 0, dataForkOffset: 0,
    dataForkLength: forkPos, rsrcForkOffset: 0, rsrcForkLength: 0, segmentNumber: 1, segmentCount: 1,
    segmentId: guidToBytes(randomGuid()), dataChecksum: crcChecksum(forkCrc), xmlOffset: forkPos, xmlLength: xml.length,
    masterChecksum: crcChecksum(masterCrc(checksums)), imageVariant: 1, sectorCount: sectors,
  });
  await sink.write(koly, forkPos + xml.length);
  await sink.truncate(forkPos + xml.length + KOLY_SIZE);
  await sink.flush?.();
}
