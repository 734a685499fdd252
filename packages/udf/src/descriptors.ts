/**
 * The volume structure: Volume Recognition Sequence (NSR02/NSR03), the Anchor Volume Descriptor
 * Pointer (sector 256, N−256 or N−1), and the Volume Descriptor Sequence it points at (main, else the
 * reserve): Primary, Partition and Logical Volume descriptors with their partition maps.
 */
import { CorruptImageError, UnsupportedFeatureError, type BlockDevice, type Problem } from '@diskit/core';
import { TAG, dv, readTag } from './tag.js';
import { dstring, entityId } from './strings.js';

export interface PartitionDescriptor {
  number: number;
  /** First sector of the partition, and its length in sectors. */
  start: number;
  length: number;
  contents: string;
}

export type PartitionMap =
  | { type: 'physical'; partition: number }
  | { type: 'virtual'; partition: number }
  | { type: 'sparable'; partition: number; packetLength: number; tables: number[]; tableSize: number }
  | { type: 'metadata'; partition: number; file: number; mirror: number; flags: number };

export interface LogicalVolume {
  name: string;
  blockSize: number;
  domain: string;
  /** UDF revision from the domain identifier suffix (0x0102, 0x0250…). */
  revision: number;
  /** The File Set Descriptor: block and partition reference. */
  fsd: { block: number; partitionRef: number };
  maps: PartitionMap[];
}

export interface VolumeStructure {
  sectorSize: number;
  volumeId?: string;
  volumeSetId?: string;
  partitions: PartitionDescriptor[];
  lv: LogicalVolume;
  /** The sector the anchor was found at. */
  anchor: number;
  /** A damaged anchor or main sequence read around (another anchor, the reserve sequence used). */
  warnings: Problem[];
}

const MAX_VDS_DESCRIPTORS = 512;

/** NSR02 or NSR03 in the recognition sequence from byte 32768: a UDF volume (a fast probe). */
export async function hasNsr(dev: BlockDevice): Promise<boolean> {
  if (dev.size < 32768 + 2048 * 4) return false;
  const b = new Uint8Array(2048 * 16);
  await dev.read(b.subarray(0, Math.min(b.length, dev.size - 32768)), 32768);
  // Recognition descriptors are 2048 bytes apart on 2 KiB media, one per sector on larger sectors.
  for (const step of [2048, 4096]) {
    for (let at = 0; at + 6 <= b.length; at += step) {
      const id = String.fromCharCode(...b.subarray(at + 1, at + 6));
      if (id === 'NSR02' || id === 'NSR03') return true;
      if (id !== 'BEA01' && id !== 'CD001' && id !== 'CDW02' && id !== 'BOOT2' && id !== 'TEA01') break;
    }
  }
  return false;
}

/** Find the anchor: sector 256, then the last sector and N−256, at sector sizes 2048, 512 and 4096. */
async function findAnchor(dev: BlockDevice, warnings: Problem[]): Promise<{ sectorSize: number; sector: number; main: [number, number]; reserve: [number, number] }> {
  for (const ss of [2048, 512, 4096]) {
    const damaged: Problem[] = [];
    const n = Math.floor(dev.size / ss);
    for (const s of [256, n - 1, n - 257, 512]) {
      if (s < 0 || (s + 1) * ss > dev.size) continue;
      const b = new Uint8Array(512);
      await dev.read(b, s * ss);
      try {
        readTag(b, 'anchor volume descriptor pointer', s * ss, TAG.AVDP, s);
      } catch (e) {
        // An anchor's identifier with a bad checksum, CRC or location: damage, if another anchor is found.
        if (e instanceof CorruptImageError && dv(b).getUint16(0, true) === TAG.AVDP) {
          damaged.push({ severity: 'warning', structure: 'UDF anchor volume descriptor pointer', offset: s * ss, message: `${e.message}; another anchor used` });
        }
        continue;
      }
      const v = dv(b);
      warnings.push(...damaged);
      return { sectorSize: ss, sector: s, main: [v.getUint32(16, true), v.getUint32(20, true)], reserve: [v.getUint32(24, true), v.getUint32(28, true)] };
    }
  }
  throw new CorruptImageError('UDF anchor volume descriptor pointer', 256 * 2048, 'a valid anchor at sector 256, N−256 or N−1');
}

export async function readVolumeStructure(dev: BlockDevice): Promise<VolumeStructure> {
  const warnings: Problem[] = [];
  const anchor = await findAnchor(dev, warnings);
  let lastError: unknown;
  for (const [length, location] of [anchor.main, anchor.reserve]) {
    try {
      const seq = await readSequence(dev, anchor.sectorSize, location, length);
      if (lastError instanceof CorruptImageError) {
        // The reserve copy is there for exactly this, and the damage is still said.
        warnings.push({ severity: 'warning', structure: 'UDF main volume descriptor sequence', offset: anchor.main[1] * anchor.sectorSize, message: `${lastError.message}; using the reserve sequence` });
      }
      return { ...seq, sectorSize: anchor.sectorSize, anchor: anchor.sector, warnings };
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

async function readSequence(dev: BlockDevice, ss: number, location: number, length: number): Promise<Omit<VolumeStructure, 'sectorSize' | 'anchor' | 'warnings'>> {
  const partitions: PartitionDescriptor[] = [];
  let lv: LogicalVolume | undefined;
  let volumeId: string | undefined;
  let volumeSetId: string | undefined;
  const seen = new Set<number>();
  let sector = location;
  let end = location + Math.floor(length / ss);
  for (let n = 0; sector < end && n < MAX_VDS_DESCRIPTORS; n++, sector++) {
    if (seen.has(sector)) throw new CorruptImageError('UDF volume descriptor sequence', sector * ss, 'no loop in the sequence');
    seen.add(sector);
    if ((sector + 1) * ss > dev.size) throw new CorruptImageError('UDF volume descriptor sequence', sector * ss, 'descriptors inside the image');
    const b = new Uint8Array(ss);
    await dev.read(b, sector * ss);
    const tag = readTag(b, 'UDF volume descriptor', sector * ss, undefined, sector);
    const v = dv(b);
    if (tag.id === TAG.TD) break;
    if (tag.id === TAG.VDP) {
      // The sequence continues elsewhere.
      const len = v.getUint32(20, true);
      sector = v.getUint32(24, true) - 1;
      end = sector + 1 + Math.floor(len / ss);
    } else if (tag.id === TAG.PVD) {
      volumeId = dstring(b.subarray(24, 56));
      volumeSetId = dstring(b.subarray(72, 200));
    } else if (tag.id === TAG.PD) {
      const number = v.getUint16(22, true);
      const pd = { number, contents: entityId(b.subarray(24, 56)), start: v.getUint32(188, true), length: v.getUint32(192, true) };
      if ((pd.start + pd.length) * ss > dev.size + ss * 1024) throw new CorruptImageError('UDF partition descriptor', sector * ss, 'a partition inside the image', `sectors ${pd.start}+${pd.length}`);
      const i = partitions.findIndex((p) => p.number === number);
      if (i >= 0) partitions[i] = pd; // a later (prevailing) copy
      else partitions.push(pd);
    } else if (tag.id === TAG.LVD) {
      lv = parseLvd(b, sector * ss);
    }
  }
  if (!lv) throw new CorruptImageError('UDF volume descriptor sequence', location * ss, 'a logical volume descriptor');
  if (partitions.length === 0) throw new CorruptImageError('UDF volume descriptor sequence', location * ss, 'a partition descriptor');
  return { partitions, lv, volumeId, volumeSetId };
}

function parseLvd(b: Uint8Array, offset: number): LogicalVolume {
  const v = dv(b);
  const blockSize = v.getUint32(212, true);
  if (blockSize < 512 || blockSize > 65536 || blockSize & (blockSize - 1)) throw new CorruptImageError('UDF logical volume descriptor', offset, 'a logical block size of 512–65536', String(blockSize));
  const domain = entityId(b.subarray(216, 248));
  const revision = v.getUint16(216 + 24, true);
  const mapTableLength = v.getUint32(264, true);
  const mapCount = v.getUint32(268, true);
  if (440 + mapTableLength > b.length || mapCount > 64) throw new CorruptImageError('UDF logical volume descriptor', offset, 'partition maps within the descriptor', `${mapCount} maps, ${mapTableLength} bytes`);
  const maps: PartitionMap[] = [];
  let at = 440;
  for (let i = 0; i < mapCount; i++) {
    const type = b[at]!;
    const len = b[at + 1]!;
    if (len < 6 || at + len > 440 + mapTableLength) throw new CorruptImageError('UDF partition map', offset + at, 'a map inside the table', `length ${len}`);
    if (type === 1) maps.push({ type: 'physical', partition: v.getUint16(at + 4, true) });
    else if (type === 2) {
      const ident = entityId(b.subarray(at + 4, at + 36));
      const partition = v.getUint16(at + 38, true);
      if (ident === '*UDF Virtual Partition') maps.push({ type: 'virtual', partition });
      else if (ident === '*UDF Sparable Partition') {
        const count = b[at + 42]!;
        const tables = [];
        for (let k = 0; k < count && k < 4; k++) tables.push(v.getUint32(at + 48 + 4 * k, true));
        maps.push({ type: 'sparable', partition, packetLength: v.getUint16(at + 40, true), tables, tableSize: v.getUint32(at + 44, true) });
      } else if (ident === '*UDF Metadata Partition') {
        maps.push({ type: 'metadata', partition, file: v.getUint32(at + 40, true), mirror: v.getUint32(at + 44, true), flags: b[at + 58]! });
      } else throw new UnsupportedFeatureError(`UDF partition map '${ident}' is not supported`);
    } else throw new CorruptImageError('UDF partition map', offset + at, 'map type 1 or 2', String(type));
    at += len;
  }
  return {
    name: dstring(b.subarray(84, 212)),
    blockSize,
    domain,
    revision,
    fsd: { block: v.getUint32(248 + 4, true), partitionRef: v.getUint16(248 + 8, true) },
    maps,
  };
}
