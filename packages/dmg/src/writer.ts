/** Writing UDIF images (UDZO zlib / UDRO raw) from any BlockDevice, hole-aware and streaming. */
import {
  UsageError, dataRuns, randomGuid, guidToBytes,
  type BlockDevice, type CreateOptions, type ImageSink,
} from '@diskit/core';
import { readPartitionTable } from '@diskit/raw';
import { buildPlist, type PlistDict } from './plist.js';
import { ChunkType, KOLY_SIZE, SECTOR, crcChecksum, encodeKoly, encodeMish, type Chunk } from './udif.js';
import { masterCrc } from './image.js';
import { codecs, codecsReady } from './codecs.js';
import { crc32Combine } from './crc-combine.js';

/** hdiutil's chunk size: 2048 sectors (1 MiB). */
export const WRITE_CHUNK_SECTORS = 2048;
const WRITE_CHUNK = WRITE_CHUNK_SECTORS * SECTOR;
/** Free (zero) chunks are cut at 64 MiB: QEMU refuses any chunk with more sectors. */
const MAX_ZERO_CHUNK = 64 << 20;

export interface DmgWriteOptions {
  compression: 'zlib' | 'raw';
  level: number;
  /** Compression jobs in flight (Node: thread-pool parallelism). */
  workers: number;
}

export function parseWriteOptions(o: Record<string, string> = {}): DmgWriteOptions {
  const out: DmgWriteOptions = { compression: 'zlib', level: 1, workers: codecs().concurrency };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'compression') {
      if (v === 'zlib' || v === 'udzo') out.compression = 'zlib';
      else if (v === 'raw' || v === 'none' || v === 'udro') out.compression = 'raw';
      else if (v === 'bzip2' || v === 'udbz') {
        throw new UsageError('dmg: compression=bzip2 (UDBZ) is not supported for writing: no acceptable pure-JS bzip2 encoder; use zlib or raw');
      } else throw new UsageError(`dmg: unknown compression "${v}" (zlib, raw)`);
    } else if (k === 'level') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 9) throw new UsageError(`dmg: level must be 0..9, got "${v}"`);
      out.level = n;
    } else if (k === 'workers') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`dmg: workers must be 1..256, got "${v}"`);
      out.workers = n;
    } else throw new UsageError(`dmg: unknown option "${k}" (compression, level, workers)`);
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

type Piece = { start: number; length: number; data?: Uint8Array };

/** Walk [start, end) as 1 MiB data windows (absolute alignment) and zero runs, via the copy pump. */
async function* pieces(source: BlockDevice, start: number, end: number): AsyncGenerator<Piece> {
  const srcEnd = Math.min(end, source.size);
  let cur = start;
  let win: { start: number; end: number; buf: Uint8Array } | null = null;
  function* zeros(a: number, b: number): Generator<Piece> {
    for (let p = a; p < b; p += MAX_ZERO_CHUNK) yield { start: p, length: Math.min(MAX_ZERO_CHUNK, b - p) };
  }
  if (srcEnd > start) {
    for await (const run of dataRuns(source, { offset: start, length: srcEnd - start, chunkSize: WRITE_CHUNK, zeroGranularity: 4096 })) {
      const ws = Math.max(start, Math.floor(run.offset / WRITE_CHUNK) * WRITE_CHUNK);
      if (win && win.start !== ws) {
        yield { start: win.start, length: win.end - win.start, data: win.buf };
        cur = win.end;
        win = null;
      }
      if (!win) {
        if (cur < ws) yield* zeros(cur, ws);
        const we = Math.min(end, Math.floor(run.offset / WRITE_CHUNK) * WRITE_CHUNK + WRITE_CHUNK);
        win = { start: ws, end: we, buf: new Uint8Array(we - ws) };
      }
      win.buf.set(run.data, run.offset - ws);
    }
  }
  if (win) {
    yield { start: win.start, length: win.end - win.start, data: win.buf };
    cur = win.end;
  }
  if (cur < end) yield* zeros(cur, end);
}

const SAMPLE = 4096;
/**
 * Whether a chunk is worth deflating: four 4 KiB samples spread over it are tried first, and a
 * chunk where none of them shrinks by 5% (already-compressed or encrypted data) is stored raw,
 * as deflate would only have grown it. Costs under 2% of a full deflate; saves ~90% on such data.
 */
async function compressible(data: Uint8Array, level: number): Promise<boolean> {
  if (data.length < 16 * SAMPLE) return true;
  const step = Math.floor(data.length / 4);
  for (let k = 0; k < 4; k++) {
    const s = data.subarray(k * step, k * step + SAMPLE);
    const z = await codecs().deflate(s, level);
    if (z.length < s.length * 0.95) return true;
  }
  return false;
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

  for (const [bi, r] of ranges.entries()) {
    const chunks: Chunk[] = [];
    let blkCrc = 0;
    const base = r.start;
    // Compression jobs in flight, written in order.
    const queue: { piece: Piece; job: Promise<{ z: Uint8Array; crc: number } | null> | null }[] = [];
    const drain = async (keep: number) => {
      while (queue.length > keep) {
        const { piece, job } = queue.shift()!;
        if (!piece.data) {
          chunks.push({ type: ChunkType.IGNORE, comment: 0, sectorNumber: (piece.start - base) / SECTOR, sectorCount: piece.length / SECTOR, compressedOffset: forkPos, compressedLength: 0 });
          continue;
        }
        let payload = piece.data;
        let type: number = ChunkType.RAW;
        if (job) {
          const r = await job;
          if (r && r.z.length < piece.data.length) {
            payload = r.z;
            type = ChunkType.ZLIB;
          }
        }
        await sink.write(payload, forkPos);
        if (type === ChunkType.RAW) {
          // Stored: the same bytes feed both CRCs, so compute once and combine.
          const k = c.crc32(payload);
          forkCrc = crc32Combine(forkCrc, k, payload.length);
          blkCrc = crc32Combine(blkCrc, k, payload.length);
        } else {
          forkCrc = c.crc32(payload, forkCrc);
          blkCrc = crc32Combine(blkCrc, job ? (await job)!.crc : c.crc32(piece.data), piece.data.length);
        }
        chunks.push({ type, comment: 0, sectorNumber: (piece.start - base) / SECTOR, sectorCount: piece.length / SECTOR, compressedOffset: forkPos, compressedLength: payload.length });
        forkPos += payload.length;
        done += piece.length;
        opts.onProgress?.(done, diskSize);
      }
    };
    for await (const piece of pieces(source, r.start, r.end)) {
      let job: Promise<{ z: Uint8Array; crc: number } | null> | null = null;
      if (piece.data && o.compression === 'zlib') {
        const data = piece.data;
        // The blkx checksum covers the decompressed bytes of data chunks (free chunks are left out, as
        // hdiutil does); for compressed chunks it is computed here, beside the deflate.
        job = (async () => ((await compressible(data, o.level)) ? { z: await c.deflate(data, o.level), crc: c.crc32(data) } : null))();
        job.catch(() => {});
      }
      if (!piece.data) done += piece.length;
      queue.push({ piece, job });
      await drain(Math.max(0, o.workers - 1));
    }
    await drain(0);
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
