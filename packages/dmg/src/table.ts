/** The chunk table of a UDIF: koly trailer → XML plist → blkx entries → chunks placed on the disk, every bound checked. */
import {
  CorruptImageError, TruncatedImageError, UnsupportedFeatureError, ascii, type BlockDevice,
} from '@diskit/core';
import { parsePlist, type PlistDict, type PlistValue } from './plist.js';
import { ChunkType, KOLY_SIZE, SECTOR, decodeKoly, decodeMish, type Chunk, type Koly, type Mish } from './udif.js';

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

/** Chunk kinds holding stored bytes. A compressed kind diskit has no decoder for is refused when it is read. */
export const DATA_TYPES = new Set<number>([ChunkType.RAW, ChunkType.ADC, ChunkType.ZLIB, ChunkType.BZIP2, ChunkType.LZFSE, ChunkType.LZMA]);
/** hdiutil's compressed chunk kinds are 0x8000000N. */
const isCompressedKind = (t: number) => t >>> 28 === 0x8;

export interface UdifTable {
  koly: Koly;
  plist: PlistDict;
  blkx: BlkxEntry[];
  /** Sorted by disk offset, no overlaps. */
  chunks: PlacedChunk[];
  /** Disk size in bytes: the koly's sector count, or (when that is 0) the end of the last blkx. */
  size: number;
}

export function str(v: PlistValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Refuse formats that look like UDIF's relatives but are not plain UDIF. */
export function sniffUnsupported(head: Uint8Array): string | undefined {
  const h = ascii(head, 0, 8);
  if (h === 'encrcdsa' || h === 'cdsaencr') return 'encrypted DMG';
  if (ascii(head, 0, 4) === 'sprs') return 'sparse image (UDSP)';
  return undefined;
}

export async function readTable(file: BlockDevice): Promise<UdifTable> {
  const size = file.size;
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
  // A koly sector count of 0 (real images have it; 7-Zip reads them): the disk ends where the last blkx does.
  const sizeFromKoly = koly.sectorCount > 0;
  let diskEnd = sizeFromKoly ? koly.sectorCount * SECTOR : Number.MAX_SAFE_INTEGER;
  blkxList.forEach((e, index) => {
    const d = e as PlistDict;
    const data = d?.['Data'];
    const where = `blkx[${index}]`;
    if (!(data instanceof Uint8Array)) throw new CorruptImageError(where, koly.xmlOffset, 'a Data entry');
    const mish = decodeMish(data, where);
    blkx.push({
      index,
      id: str(d['ID']) ?? String(index),
      name: str(d['Name']) ?? str(d['CFName']) ?? '',
      cfName: str(d['CFName']),
      attributes: str(d['Attributes']),
      mish,
    });
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
      if (DATA_TYPES.has(c.type) || isCompressedKind(c.type)) {
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
  if (!sizeFromKoly) diskEnd = Math.max(0, ...blkx.map((b) => (b.mish.sectorNumber + b.mish.sectorCount) * SECTOR));
  return { koly, plist: root as PlistDict, blkx, chunks, size: diskEnd };
}

/** Data chunks of a kind with a decoder (the others are refused when read). */
export function isDataChunk(c: { type: number }): boolean {
  return DATA_TYPES.has(c.type) || isCompressedKind(c.type);
}
