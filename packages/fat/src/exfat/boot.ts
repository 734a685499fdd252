/** The exFAT boot region: main boot sector, and the boot checksum of sectors 0–10 kept in sector 11 (exFAT spec §3.1, §3.4). */
import { Parser, CorruptImageError, TruncatedImageError, u64, type BlockDevice } from '@diskit/core';

export interface ExfatBoot {
  partitionOffset: number;
  volumeLength: number;
  fatOffset: number;
  fatLength: number;
  clusterHeapOffset: number;
  clusterCount: number;
  rootCluster: number;
  serial: number;
  revision: number;
  volumeFlags: number;
  bytesPerSectorShift: number;
  sectorsPerClusterShift: number;
  numFats: number;
  percentInUse: number;
}

const bootParser = new Parser()
  .endianness('little')
  .skip(3)
  .string('name', { length: 8, encoding: 'latin1' })
  .buffer('mustBeZero', { length: 53 })
  .uint64('partitionOffset')
  .uint64('volumeLength')
  .uint32('fatOffset')
  .uint32('fatLength')
  .uint32('clusterHeapOffset')
  .uint32('clusterCount')
  .uint32('rootCluster')
  .uint32('serial')
  .uint16('revision')
  .uint16('volumeFlags')
  .uint8('bytesPerSectorShift')
  .uint8('sectorsPerClusterShift')
  .uint8('numFats')
  .uint8('driveSelect')
  .uint8('percentInUse')
  .skip(397)
  .uint16('signature');

export const isExfatName = (b: Uint8Array) => String.fromCharCode(...b.subarray(3, 11)) === 'EXFAT   ';

/** The boot checksum over `sectors` (11 sectors), skipping VolumeFlags and PercentInUse (§3.4). */
export function bootChecksum(sectors: Uint8Array, sectorSize: number): number {
  let sum = 0;
  const n = 11 * sectorSize;
  for (let i = 0; i < n; i++) {
    if (i === 106 || i === 107 || i === 112) continue;
    sum = (((sum & 1) << 31) | (sum >>> 1)) + sectors[i]!;
    sum >>>= 0;
  }
  return sum;
}

/** Decode and check a main (or backup) boot sector's fields. */
export function parseBootSector(b: Uint8Array, at: number, devSize: number): ExfatBoot {
  const r = bootParser.parse(b.subarray(0, 512));
  if (r.name !== 'EXFAT   ') throw new CorruptImageError('exFAT boot sector', at + 3, '"EXFAT   "', JSON.stringify(r.name));
  if (r.signature !== 0xaa55) throw new CorruptImageError('exFAT boot sector', at + 510, 'signature 0xAA55', `0x${r.signature.toString(16)}`);
  if ((r.mustBeZero as Uint8Array).some((x) => x !== 0)) throw new CorruptImageError('exFAT boot sector', at + 11, 'MustBeZero bytes 11–63 all zero (else this is a FAT BPB)');
  const bad = (field: string, off: number, expected: string, found: number) => new CorruptImageError(`exFAT boot sector ${field}`, at + off, expected, String(found));
  if (r.bytesPerSectorShift < 9 || r.bytesPerSectorShift > 12) throw bad('BytesPerSectorShift', 108, '9..12', r.bytesPerSectorShift);
  if (r.sectorsPerClusterShift > 25 - r.bytesPerSectorShift) throw bad('SectorsPerClusterShift', 109, `at most ${25 - r.bytesPerSectorShift}`, r.sectorsPerClusterShift);
  if (r.numFats < 1 || r.numFats > 2) throw bad('NumberOfFats', 110, '1 or 2', r.numFats);
  const volumeLength = u64(r.volumeLength, 'exFAT boot sector VolumeLength', at + 72);
  if (r.fatOffset < 24) throw bad('FatOffset', 80, 'at least 24', r.fatOffset);
  if (r.fatLength * r.numFats + r.fatOffset > r.clusterHeapOffset) throw bad('ClusterHeapOffset', 88, `after the FAT(s) (${r.fatOffset + r.fatLength * r.numFats})`, r.clusterHeapOffset);
  if (r.fatLength * 2 ** r.bytesPerSectorShift < (r.clusterCount + 2) * 4) throw bad('FatLength', 84, `room for ${r.clusterCount + 2} entries`, r.fatLength);
  const heapSectors = volumeLength - r.clusterHeapOffset;
  if (r.clusterCount === 0 || r.clusterCount > Math.floor(heapSectors / 2 ** r.sectorsPerClusterShift)) {
    throw bad('ClusterCount', 92, `1..${Math.floor(Math.max(0, heapSectors) / 2 ** r.sectorsPerClusterShift)}`, r.clusterCount);
  }
  if (r.rootCluster < 2 || r.rootCluster > r.clusterCount + 1) throw bad('FirstClusterOfRootDirectory', 96, `2..${r.clusterCount + 1}`, r.rootCluster);
  if (r.revision >> 8 !== 1) throw bad('FileSystemRevision', 104, 'major version 1', r.revision);
  void devSize;
  return {
    partitionOffset: u64(r.partitionOffset, 'exFAT boot sector PartitionOffset', at + 64), volumeLength,
    fatOffset: r.fatOffset, fatLength: r.fatLength, clusterHeapOffset: r.clusterHeapOffset, clusterCount: r.clusterCount,
    rootCluster: r.rootCluster, serial: r.serial, revision: r.revision, volumeFlags: r.volumeFlags,
    bytesPerSectorShift: r.bytesPerSectorShift, sectorsPerClusterShift: r.sectorsPerClusterShift, numFats: r.numFats,
    percentInUse: r.percentInUse,
  };
}

/** Read one boot region (12 sectors from byte `at`), check its checksum, decode it. */
async function readRegion(dev: BlockDevice, at: number, expectShift?: number): Promise<ExfatBoot> {
  if (at + 512 > dev.size) throw new TruncatedImageError('exFAT boot region', at, 512, dev.size);
  const head = new Uint8Array(512);
  await dev.read(head, at);
  const shift = head[108]!;
  if (shift < 9 || shift > 12 || (expectShift !== undefined && shift !== expectShift)) {
    throw new CorruptImageError('exFAT boot sector BytesPerSectorShift', at + 108, expectShift === undefined ? '9..12' : String(expectShift), String(shift));
  }
  const ss = 1 << shift;
  if (at + 12 * ss > dev.size) throw new TruncatedImageError('exFAT boot region', at, 12 * ss, dev.size);
  const region = new Uint8Array(12 * ss);
  await dev.read(region, at);
  const boot = parseBootSector(region, at, dev.size);
  const sum = bootChecksum(region, ss);
  const v = new DataView(region.buffer, 11 * ss, ss);
  for (let i = 0; i < ss; i += 4) {
    const stored = v.getUint32(i, true);
    if (stored !== sum) throw new CorruptImageError('exFAT boot checksum sector', at + 11 * ss + i, `0x${sum.toString(16)} (the checksum of sectors 0–10)`, `0x${stored.toString(16)}`);
  }
  return boot;
}

/** The main boot region, or the backup (sectors 12–23) when the main one is damaged. */
export async function readBootRegion(dev: BlockDevice): Promise<{ boot: ExfatBoot; backup: boolean }> {
  try {
    return { boot: await readRegion(dev, 0), backup: false };
  } catch (main) {
    for (let shift = 9; shift <= 12; shift++) {
      try {
        return { boot: await readRegion(dev, 12 << shift, shift), backup: true };
      } catch {
        /* not at this sector size */
      }
    }
    throw main;
  }
}
