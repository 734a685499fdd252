/** UDIF on-disk structures: the 512-byte koly trailer and the mish (blkx) block table. Big-endian. */
import { ByteWriter, CorruptImageError, Parser, u64 } from '@diskit/core';

export const KOLY_SIZE = 512;
export const SECTOR = 512;

/** Checksum kinds of UDIFChecksum.type. */
export const CHECKSUM_NONE = 0;
export const CHECKSUM_CRC32 = 2;
export const checksumNames: Record<number, string> = { 0: 'none', 1: 'crc32-legacy', 2: 'crc32', 4: 'md5' };

export interface UdifChecksum {
  type: number;
  /** Size in bits. */
  size: number;
  /** 128 bytes of checksum data. */
  data: Uint8Array;
}

export interface Koly {
  signature: string;
  version: number;
  headerSize: number;
  flags: number;
  runningDataForkOffset: number;
  dataForkOffset: number;
  dataForkLength: number;
  rsrcForkOffset: number;
  rsrcForkLength: number;
  segmentNumber: number;
  segmentCount: number;
  segmentId: Uint8Array;
  dataChecksum: UdifChecksum;
  xmlOffset: number;
  xmlLength: number;
  masterChecksum: UdifChecksum;
  imageVariant: number;
  sectorCount: number;
}

const checksumParser = new Parser()
  .endianness('big')
  .uint32('type')
  .uint32('size')
  .buffer('data', { length: 128 });

const kolyParser = new Parser()
  .endianness('big')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('version')
  .uint32('headerSize')
  .uint32('flags')
  .uint64('runningDataForkOffset')
  .uint64('dataForkOffset')
  .uint64('dataForkLength')
  .uint64('rsrcForkOffset')
  .uint64('rsrcForkLength')
  .uint32('segmentNumber')
  .uint32('segmentCount')
  .buffer('segmentId', { length: 16 })
  .nest('dataChecksum', { type: checksumParser })
  .uint64('xmlOffset')
  .uint64('xmlLength')
  .skip(120)
  .nest('masterChecksum', { type: checksumParser })
  .uint32('imageVariant')
  .uint64('sectorCount')
  .skip(12);

function cs(c: { type: number; size: number; data: Uint8Array }): UdifChecksum {
  return { type: c.type, size: c.size, data: new Uint8Array(c.data) };
}

/** Decode a koly trailer found at file offset `at` (for messages). */
export function decodeKoly(b: Uint8Array, at: number): Koly {
  if (b.length < KOLY_SIZE) throw new CorruptImageError('koly trailer', at, `${KOLY_SIZE} bytes`, `${b.length}`);
  const r = kolyParser.parse(b.subarray(0, KOLY_SIZE)) as Record<string, any>;
  if (r.signature !== 'koly') throw new CorruptImageError('koly trailer', at, 'signature "koly"', JSON.stringify(r.signature));
  const n = (k: string, rel: number) => u64(r[k], `koly.${k}`, at + rel);
  return {
    signature: r.signature,
    version: r.version,
    headerSize: r.headerSize,
    flags: r.flags,
    runningDataForkOffset: n('runningDataForkOffset', 16),
    dataForkOffset: n('dataForkOffset', 24),
    dataForkLength: n('dataForkLength', 32),
    rsrcForkOffset: n('rsrcForkOffset', 40),
    rsrcForkLength: n('rsrcForkLength', 48),
    segmentNumber: r.segmentNumber,
    segmentCount: r.segmentCount,
    segmentId: new Uint8Array(r.segmentId),
    dataChecksum: cs(r.dataChecksum),
    xmlOffset: n('xmlOffset', 216),
    xmlLength: n('xmlLength', 224),
    masterChecksum: cs(r.masterChecksum),
    imageVariant: r.imageVariant,
    sectorCount: n('sectorCount', 492),
  };
}

function encodeChecksum(w: ByteWriter, off: number, c: UdifChecksum): void {
  w.u32be(off, c.type).u32be(off + 4, c.size).bytesAt(off + 8, c.data.subarray(0, 128));
}

export function encodeKoly(k: Koly): Uint8Array {
  const w = new ByteWriter(KOLY_SIZE);
  w.ascii(0, 'koly').u32be(4, k.version).u32be(8, k.headerSize).u32be(12, k.flags)
    .u64be(16, k.runningDataForkOffset).u64be(24, k.dataForkOffset).u64be(32, k.dataForkLength)
    .u64be(40, k.rsrcForkOffset).u64be(48, k.rsrcForkLength).u32be(56, k.segmentNumber).u32be(60, k.segmentCount)
    .bytesAt(64, k.segmentId.subarray(0, 16));
  encodeChecksum(w, 80, k.dataChecksum);
  w.u64be(216, k.xmlOffset).u64be(224, k.xmlLength);
  encodeChecksum(w, 352, k.masterChecksum);
  w.u32be(488, k.imageVariant).u64be(492, k.sectorCount);
  return w.bytes;
}

/** Chunk types of a mish block table. */
export const ChunkType = {
  ZERO: 0x00000000,
  RAW: 0x00000001,
  IGNORE: 0x00000002,
  ADC: 0x80000004,
  ZLIB: 0x80000005,
  BZIP2: 0x80000006,
  LZFSE: 0x80000007,
  LZMA: 0x80000008,
  COMMENT: 0x7ffffffe,
  TERMINATOR: 0xffffffff,
} as const;

export const chunkTypeNames: Record<number, string> = {
  [ChunkType.ZERO]: 'zero',
  [ChunkType.RAW]: 'raw',
  [ChunkType.IGNORE]: 'ignore',
  [ChunkType.ADC]: 'adc',
  [ChunkType.ZLIB]: 'zlib',
  [ChunkType.BZIP2]: 'bzip2',
  [ChunkType.LZFSE]: 'lzfse',
  [ChunkType.LZMA]: 'lzma',
  [ChunkType.COMMENT]: 'comment',
  [ChunkType.TERMINATOR]: 'terminator',
};

export function chunkTypeName(t: number): string {
  return chunkTypeNames[t] ?? `0x${t.toString(16).padStart(8, '0')}`;
}

export interface Chunk {
  type: number;
  comment: number;
  /** Sectors relative to the mish's first sector. */
  sectorNumber: number;
  sectorCount: number;
  /** Bytes relative to the data fork (plus mish.dataOffset). */
  compressedOffset: number;
  compressedLength: number;
}

export interface Mish {
  signature: string;
  version: number;
  sectorNumber: number;
  sectorCount: number;
  dataOffset: number;
  buffersNeeded: number;
  blockDescriptors: number;
  reserved: Uint8Array;
  checksum: UdifChecksum;
  chunks: Chunk[];
}

export const MISH_HEADER_SIZE = 204;
export const CHUNK_SIZE = 40;
/** A blkx with more entries than this is refused (a 2 TiB disk in 1 MiB chunks has ~2M; hdiutil caps far lower). */
export const MAX_CHUNKS = 1 << 22;

const mishParser = new Parser()
  .endianness('big')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('version')
  .uint64('sectorNumber')
  .uint64('sectorCount')
  .uint64('dataOffset')
  .uint32('buffersNeeded')
  .uint32('blockDescriptors')
  .buffer('reserved', { length: 24 })
  .nest('checksum', { type: checksumParser })
  .uint32('numberOfBlockChunks');

/** Decode a mish block table (the bytes of a blkx <data>). `where` names it in errors. */
export function decodeMish(b: Uint8Array, where: string): Mish {
  if (b.length < MISH_HEADER_SIZE) throw new CorruptImageError(where, 0, `a mish header of ${MISH_HEADER_SIZE} bytes`, `${b.length} bytes`);
  const r = mishParser.parse(b.subarray(0, MISH_HEADER_SIZE)) as Record<string, any>;
  if (r.signature !== 'mish') throw new CorruptImageError(where, 0, 'signature "mish"', JSON.stringify(r.signature));
  const count: number = r.numberOfBlockChunks;
  if (count > MAX_CHUNKS) throw new CorruptImageError(where, 200, `at most ${MAX_CHUNKS} chunks`, `${count}`);
  if (MISH_HEADER_SIZE + count * CHUNK_SIZE > b.length) {
    throw new CorruptImageError(where, 200, `${count} chunk entries within ${b.length} bytes`, `${MISH_HEADER_SIZE + count * CHUNK_SIZE} bytes needed`);
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const big = (o: number, f: string) => {
    const v = dv.getBigUint64(o);
    return u64(v, `${where} ${f}`, o);
  };
  const chunks: Chunk[] = [];
  for (let i = 0, o = MISH_HEADER_SIZE; i < count; i++, o += CHUNK_SIZE) {
    chunks.push({
      type: dv.getUint32(o),
      comment: dv.getUint32(o + 4),
      sectorNumber: big(o + 8, `chunk ${i} sectorNumber`),
      sectorCount: big(o + 16, `chunk ${i} sectorCount`),
      compressedOffset: big(o + 24, `chunk ${i} compressedOffset`),
      compressedLength: big(o + 32, `chunk ${i} compressedLength`),
    });
  }
  return {
    signature: r.signature,
    version: r.version,
    sectorNumber: u64(r.sectorNumber, `${where} sectorNumber`, 8),
    sectorCount: u64(r.sectorCount, `${where} sectorCount`, 16),
    dataOffset: u64(r.dataOffset, `${where} dataOffset`, 24),
    buffersNeeded: r.buffersNeeded,
    blockDescriptors: r.blockDescriptors,
    reserved: new Uint8Array(r.reserved),
    checksum: cs(r.checksum),
    chunks,
  };
}

export function encodeMish(m: Mish): Uint8Array {
  const w = new ByteWriter(MISH_HEADER_SIZE + m.chunks.length * CHUNK_SIZE);
  w.ascii(0, 'mish').u32be(4, m.version).u64be(8, m.sectorNumber).u64be(16, m.sectorCount).u64be(24, m.dataOffset)
    .u32be(32, m.buffersNeeded).u32be(36, m.blockDescriptors).bytesAt(40, m.reserved.subarray(0, 24));
  encodeChecksum(w, 64, m.checksum);
  w.u32be(200, m.chunks.length);
  let o = MISH_HEADER_SIZE;
  for (const c of m.chunks) {
    w.u32be(o, c.type).u32be(o + 4, c.comment).u64be(o + 8, c.sectorNumber).u64be(o + 16, c.sectorCount)
      .u64be(o + 24, c.compressedOffset).u64be(o + 32, c.compressedLength);
    o += CHUNK_SIZE;
  }
  return w.bytes;
}

/** A CRC32 UDIFChecksum holding `crc`. */
export function crcChecksum(crc: number): UdifChecksum {
  const data = new Uint8Array(128);
  new DataView(data.buffer).setUint32(0, crc >>> 0);
  return { type: CHECKSUM_CRC32, size: 32, data };
}

export function checksumValue(c: UdifChecksum): number {
  return new DataView(c.data.buffer, c.data.byteOffset, 4).getUint32(0);
}
