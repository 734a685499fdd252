/** The NTFS boot sector (and its backup in the volume's last sector): geometry and where $MFT is. */
import { CorruptImageError, TruncatedImageError, type BlockDevice } from '@diskit/core';
import { u16, u32, u64 } from './bytes.js';

export interface BootSector {
  bytesPerSector: number;
  clusterSize: number;
  totalSectors: number;
  totalClusters: number;
  mftLcn: number;
  mftMirrLcn: number;
  recordSize: number;
  indexBlockSize: number;
  serial: string;
  /** Byte offset this copy was read from (0, or the backup's). */
  offset: number;
}

const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** A size field in clusters, or when negative 2^-n bytes. */
function clustersOrLog(v: number, clusterSize: number): number {
  const s = v > 127 ? v - 256 : v;
  return s < 0 ? (s < -31 ? 0 : 2 ** -s) : s * clusterSize;
}

export function hasNtfsOemId(b: Uint8Array): boolean {
  return b.length >= 11 && String.fromCharCode(...b.subarray(3, 11)) === 'NTFS    ';
}

/** Parse and check one boot sector copy; `offset` names it in errors. */
export function parseBootSector(b: Uint8Array, offset: number): BootSector {
  const bad = (what: string, found: unknown) => new CorruptImageError('NTFS boot sector', offset, what, String(found));
  if (!hasNtfsOemId(b)) throw bad("OEM id 'NTFS    '", JSON.stringify(String.fromCharCode(...b.subarray(3, 11))));
  if (u16(b, 510) !== 0xaa55) throw bad('signature 0xAA55', `0x${u16(b, 510).toString(16)}`);
  const bytesPerSector = u16(b, 11);
  if (!pow2(bytesPerSector) || bytesPerSector < 256 || bytesPerSector > 4096) throw bad('bytes per sector 256..4096, a power of two', bytesPerSector);
  const spc = b[13]!;
  const sectorsPerCluster = spc > 0x80 ? 2 ** (256 - spc) : spc;
  const clusterSize = bytesPerSector * sectorsPerCluster;
  if (!pow2(sectorsPerCluster) || clusterSize > 2 << 20) throw bad('sectors per cluster a power of two, clusters up to 2 MiB', spc);
  const totalSectors = u64(b, 0x28);
  const totalClusters = Math.floor((totalSectors * bytesPerSector) / clusterSize);
  if (!Number.isSafeInteger(totalSectors) || totalClusters < 1) throw bad('a volume size', totalSectors);
  const mftLcn = u64(b, 0x30);
  const mftMirrLcn = u64(b, 0x38);
  if (!(mftLcn < totalClusters)) throw bad(`$MFT cluster below ${totalClusters}`, mftLcn);
  if (!(mftMirrLcn < totalClusters)) throw bad(`$MFTMirr cluster below ${totalClusters}`, mftMirrLcn);
  const recordSize = clustersOrLog(b[0x40]!, clusterSize);
  if (!pow2(recordSize) || recordSize < 256 || recordSize > 65536 || recordSize < bytesPerSector / 8) throw bad('an MFT record size 256..64 KiB', recordSize);
  const indexBlockSize = clustersOrLog(b[0x44]!, clusterSize);
  if (!pow2(indexBlockSize) || indexBlockSize < 512 || indexBlockSize > 65536 * 4) throw bad('an index block size 512..256 KiB', indexBlockSize);
  const serial = u32(b, 0x4c).toString(16).toUpperCase().padStart(8, '0') + u32(b, 0x48).toString(16).toUpperCase().padStart(8, '0');
  return { bytesPerSector, clusterSize, totalSectors, totalClusters, mftLcn, mftMirrLcn, recordSize, indexBlockSize, serial, offset };
}

/** The boot sector at 0, or when it is damaged the backup at the end of the device. */
export async function readBootSector(dev: BlockDevice): Promise<BootSector> {
  if (dev.size < 512) throw new TruncatedImageError('NTFS boot sector', 0, 512, dev.size);
  const b = new Uint8Array(512);
  await dev.read(b, 0);
  try {
    const bs = parseBootSector(b, 0);
    if (bs.totalSectors * bs.bytesPerSector > dev.size) throw new TruncatedImageError('NTFS volume', 0, bs.totalSectors * bs.bytesPerSector, dev.size);
    return bs;
  } catch (first) {
    // The backup sits in the last sector of the device (mkntfs: the sector past totalSectors).
    for (const ss of [512, 4096]) {
      const off = Math.floor(dev.size / ss) * ss - ss;
      if (off <= 0) continue;
      const bb = new Uint8Array(512);
      await dev.read(bb, off);
      try {
        const bs = parseBootSector(bb, off);
        if (bs.bytesPerSector === ss && bs.totalSectors * ss <= dev.size) return bs;
      } catch {
        // Not a backup here either.
      }
    }
    throw first;
  }
}

/** Cheap plausibility for probe(): the OEM id and the geometry fields. */
export function looksLikeNtfs(b: Uint8Array): boolean {
  try {
    parseBootSector(b, 0);
    return true;
  } catch {
    return false;
  }
}
