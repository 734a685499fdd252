/** `diskit check` of a UDIF: the data fork, per-blkx and master CRC32s, computed over the whole image. */
import { CorruptImageError, UnsupportedFeatureError, crc32, type CheckReport, type Problem } from '@diskit/core';
import { CHECKSUM_CRC32, CHECKSUM_NONE, ChunkType, KOLY_SIZE, SECTOR, checksumNames, checksumValue, type UdifChecksum } from './udif.js';
import type { BlkxEntry } from './table.js';
import type { DmgImage } from './image.js';

/**
 * The blkx checksum as hdiutil computes it: CRC32 of the decompressed bytes of its chunks in
 * table order, free (ignore) chunks left out and zero-fill chunks counted as zeros.
 */
export async function blkxCrc(img: DmgImage, b: BlkxEntry): Promise<number> {
  let crc = 0;
  const base = b.mish.sectorNumber * SECTOR;
  const buf = new Uint8Array(1 << 20);
  for (const c of b.mish.chunks) {
    if (c.type === ChunkType.IGNORE || c.type === ChunkType.COMMENT || c.type === ChunkType.TERMINATOR) continue;
    const start = base + c.sectorNumber * SECTOR;
    const total = c.sectorCount * SECTOR;
    for (let p = 0; p < total; p += buf.length) {
      const v = buf.subarray(0, Math.min(buf.length, total - p));
      await img.read(v, start + p);
      crc = crc32(v, crc);
    }
  }
  return crc;
}

export async function checkImage(img: DmgImage): Promise<CheckReport> {
  const problems: Problem[] = [];
  const kolyAt = img.file.size - KOLY_SIZE;
  const checkSum = (c: UdifChecksum, what: string, offset: number, compute: () => Promise<number>) => async () => {
    if (c.type === CHECKSUM_NONE) return;
    if (c.type !== CHECKSUM_CRC32 || c.size !== 32) {
      problems.push({ severity: 'warning', message: `${what}: checksum kind ${checksumNames[c.type] ?? c.type} (${c.size} bits) not verified`, structure: what, offset });
      return;
    }
    const want = checksumValue(c);
    const got = await compute();
    if (got !== want) {
      problems.push({ severity: 'error', message: `${what}: CRC32 is 0x${want.toString(16).padStart(8, '0')}, data gives 0x${got.toString(16).padStart(8, '0')}`, structure: what, offset });
    }
  };
  if (img.koly.sectorCount === 0) {
    problems.push({ severity: 'warning', message: `koly.sectorCount is 0: the disk size (${img.size} bytes) is taken from the blkx tables`, structure: 'koly.sectorCount', offset: kolyAt + 492 });
  }
  // Data fork: CRC32 of its bytes, read in 4 MiB steps.
  await checkSum(img.koly.dataChecksum, 'koly.dataChecksum', kolyAt + 80, async () => {
    let crc = 0;
    const step = 4 << 20;
    const buf = new Uint8Array(step);
    for (let p = 0; p < img.koly.dataForkLength; p += step) {
      const b = buf.subarray(0, Math.min(step, img.koly.dataForkLength - p));
      await img.file.read(b, img.koly.dataForkOffset + p);
      crc = crc32(b, crc);
    }
    return crc;
  })();
  // Each blkx: CRC32 of its decompressed sectors.
  for (const b of img.blkx) {
    try {
      await checkSum(b.mish.checksum, `blkx[${b.index}] checksum`, img.koly.xmlOffset, () => blkxCrc(img, b))();
    } catch (e) {
      if (!(e instanceof CorruptImageError || e instanceof UnsupportedFeatureError)) throw e;
      problems.push({ severity: 'error', message: e.message, structure: `blkx[${b.index}]` });
    }
  }
  // Master checksum: CRC32 over the blkx checksums (each as its 4 big-endian bytes).
  await checkSum(img.koly.masterChecksum, 'koly.masterChecksum', kolyAt + 352, async () => masterCrc(img.blkx.map((b) => b.mish.checksum)))();
  return { problems };
}

/** The master checksum hdiutil writes: CRC32 of the concatenated 4-byte blkx CRC32s. */
export function masterCrc(list: UdifChecksum[]): number {
  const b = new Uint8Array(list.length * 4);
  list.forEach((c, i) => b.set(c.data.subarray(0, 4), i * 4));
  return crc32(b);
}

