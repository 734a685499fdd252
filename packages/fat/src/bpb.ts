/** The FAT boot sector's BIOS Parameter Block, and the volume layout it implies (Microsoft FAT spec §3–§3.5). */
import { Parser, CorruptImageError, ascii } from '@diskit/core';

export type FatType = 'FAT12' | 'FAT16' | 'FAT32';

/** The boot sector fields, as stored. */
export interface RawBpb {
  jump: number;
  oemName: string;
  bytesPerSector: number;
  sectorsPerCluster: number;
  reservedSectors: number;
  numFats: number;
  rootEntries: number;
  totalSectors16: number;
  media: number;
  fatSize16: number;
  sectorsPerTrack: number;
  heads: number;
  hiddenSectors: number;
  totalSectors32: number;
  /** FAT32 only (meaningless when fatSize16 ≠ 0). */
  fatSize32: number;
  extFlags: number;
  fsVersion: number;
  rootCluster: number;
  fsInfoSector: number;
  backupBootSector: number;
  signature: number;
}

const bpbParser = new Parser()
  .endianness('little')
  .uint8('jump')
  .skip(2)
  .string('oemName', { length: 8, encoding: 'latin1' })
  .uint16('bytesPerSector')
  .uint8('sectorsPerCluster')
  .uint16('reservedSectors')
  .uint8('numFats')
  .uint16('rootEntries')
  .uint16('totalSectors16')
  .uint8('media')
  .uint16('fatSize16')
  .uint16('sectorsPerTrack')
  .uint16('heads')
  .uint32('hiddenSectors')
  .uint32('totalSectors32')
  .uint32('fatSize32')
  .uint16('extFlags')
  .uint16('fsVersion')
  .uint32('rootCluster')
  .uint16('fsInfoSector')
  .uint16('backupBootSector')
  .skip(510 - 52)
  .uint16('signature');

/** The layout a BPB describes, in bytes from the start of the volume. */
export interface FatLayout {
  type: FatType;
  raw: RawBpb;
  bytesPerSector: number;
  clusterSize: number;
  totalSectors: number;
  /** Sectors per FAT copy. */
  fatSectors: number;
  numFats: number;
  fatOffset: number;
  /** FAT copy in use, or undefined when all copies are mirrored (FAT32 ExtFlags bit 7 clear). */
  activeFat?: number;
  /** FAT12/16: the fixed root directory region. */
  rootDirOffset: number;
  rootDirBytes: number;
  /** FAT32: first cluster of the root directory. */
  rootCluster: number;
  dataOffset: number;
  clusterCount: number;
  volumeBytes: number;
  /** From the extended boot signature (0x28/0x29), when present. */
  serial?: number;
  label?: string;
  fsTypeLabel?: string;
  /** A DOS 1.x floppy: no BPB, geometry taken from the media byte in the FAT. */
  dos1?: boolean;
  /** Something valid readers accept but the spec does not (an undersized FAT32). */
  warning?: string;
}

export const MIN_FAT16_CLUSTERS = 4085;
export const MIN_FAT32_CLUSTERS = 65525;

const pow2 = (n: number, lo: number, hi: number) => n >= lo && n <= hi && (n & (n - 1)) === 0;

export function decodeBpb(sector: Uint8Array): RawBpb {
  return bpbParser.parse(sector.subarray(0, 512)) as RawBpb;
}

/** Why a boot sector is not a plausible FAT BPB, or undefined when it is. */
export function bpbProblem(r: RawBpb): string | undefined {
  if (!pow2(r.bytesPerSector, 512, 4096)) return `bytes per sector ${r.bytesPerSector}`;
  if (!pow2(r.sectorsPerCluster, 1, 128)) return `sectors per cluster ${r.sectorsPerCluster}`;
  if (r.reservedSectors < 1) return `reserved sectors ${r.reservedSectors}`;
  if (r.numFats < 1 || r.numFats > 4) return `number of FATs ${r.numFats}`;
  if (r.media !== 0xf0 && r.media < 0xf8) return `media byte 0x${r.media.toString(16)}`;
  if ((r.totalSectors16 || r.totalSectors32) === 0) return 'total sectors 0';
  if ((r.fatSize16 || r.fatSize32) === 0) return 'FAT size 0';
  return undefined;
}

/** The volume layout from a boot sector; `CorruptImageError` when the fields do not add up. */
export function fatLayout(sector: Uint8Array, base = 0): FatLayout {
  const r = decodeBpb(sector);
  const bad = bpbProblem(r);
  if (bad) throw new CorruptImageError('FAT boot sector (BPB)', base, 'a valid BIOS parameter block', bad);
  return layoutOf(r, sector, base);
}

function layoutOf(r: RawBpb, sector: Uint8Array, base: number, dos1 = false): FatLayout {
  const bps = r.bytesPerSector;
  const totalSectors = r.totalSectors16 || r.totalSectors32;
  const fatSectors = r.fatSize16 || r.fatSize32;
  const rootDirSectors = Math.ceil((r.rootEntries * 32) / bps);
  const metaSectors = r.reservedSectors + r.numFats * fatSectors + rootDirSectors;
  if (metaSectors >= totalSectors) {
    throw new CorruptImageError('FAT boot sector (BPB)', base, `reserved, FAT and root sectors (${metaSectors}) below the total`, String(totalSectors));
  }
  // The type is the cluster count's, whatever the label says (spec §3.5) — except that a BPB in
  // FAT32 form (no 16-bit FAT size) on too few clusters can only be read as FAT32, as Linux,
  // fsck.fat and 7-Zip read it (mkfs.fat -F 32 makes such volumes, with a warning).
  const clusterCount = Math.floor((totalSectors - metaSectors) / r.sectorsPerCluster);
  const byCount: FatType = clusterCount < MIN_FAT16_CLUSTERS ? 'FAT12' : clusterCount < MIN_FAT32_CLUSTERS ? 'FAT16' : 'FAT32';
  const type: FatType = r.fatSize16 === 0 ? 'FAT32' : byCount;
  if (type === 'FAT32' && (r.fatSize16 !== 0 || r.rootEntries !== 0)) {
    throw new CorruptImageError('FAT boot sector (BPB)', base, 'a FAT32 BPB (16-bit FAT size and root entries 0) for a volume of 65525+ clusters', `${clusterCount} clusters, FATSz16 ${r.fatSize16}, root entries ${r.rootEntries}`);
  }
  const bits = type === 'FAT12' ? 12 : type === 'FAT16' ? 16 : 32;
  if (Math.ceil(((clusterCount + 2) * bits) / 8) > fatSectors * bps) {
    throw new CorruptImageError('FAT boot sector (BPB)', base, `a FAT of at least ${Math.ceil(((clusterCount + 2) * bits) / 8)} bytes for ${clusterCount} clusters`, `${fatSectors * bps}`);
  }
  const out: FatLayout = {
    type, raw: r, bytesPerSector: bps, clusterSize: bps * r.sectorsPerCluster, totalSectors, fatSectors,
    numFats: r.numFats, fatOffset: r.reservedSectors * bps,
    rootDirOffset: (r.reservedSectors + r.numFats * fatSectors) * bps, rootDirBytes: r.rootEntries * 32,
    rootCluster: type === 'FAT32' ? r.rootCluster : 0,
    dataOffset: metaSectors * bps, clusterCount, volumeBytes: totalSectors * bps,
  };
  if (type === 'FAT32' && r.extFlags & 0x80) {
    out.activeFat = r.extFlags & 0x0f;
    if (out.activeFat >= r.numFats) throw new CorruptImageError('FAT32 BPB ExtFlags', base + 40, `an active FAT below ${r.numFats}`, String(out.activeFat));
  }
  if (type === 'FAT32' && (r.rootCluster < 2 || r.rootCluster > clusterCount + 1)) {
    throw new CorruptImageError('FAT32 BPB root cluster', base + 44, `a cluster in 2..${clusterCount + 1}`, String(r.rootCluster));
  }
  const ext = type === 'FAT32' ? 64 : 36;
  if (!dos1 && (sector[ext + 2] === 0x29 || sector[ext + 2] === 0x28)) {
    out.serial = new DataView(sector.buffer, sector.byteOffset).getUint32(ext + 3, true);
    if (sector[ext + 2] === 0x29) {
      out.label = ascii(sector, ext + 7, 11).trimEnd();
      out.fsTypeLabel = ascii(sector, ext + 18, 8).trimEnd();
    }
  }
  if (dos1) out.dos1 = true;
  if (type !== byCount) out.warning = `a FAT32 BPB on ${clusterCount} clusters (FAT32 needs 65525; by count this is ${byCount}): read as FAT32, as Linux and 7-Zip do`;
  return out;
}

/** DOS 1.x single/double-sided 5¼" floppies, whose boot sector has no BPB: geometry by media byte and size. */
const DOS1: Record<number, { size: number; spc: number; root: number; fat: number; spt: number; heads: number }> = {
  0xfe: { size: 163840, spc: 1, root: 64, fat: 1, spt: 8, heads: 1 },
  0xfc: { size: 184320, spc: 1, root: 64, fat: 2, spt: 9, heads: 1 },
  0xff: { size: 327680, spc: 2, root: 112, fat: 1, spt: 8, heads: 2 },
  0xfd: { size: 368640, spc: 2, root: 112, fat: 2, spt: 9, heads: 2 },
};

/**
 * A DOS 1.x floppy image: its size is one of the four 5¼" formats and the FAT (sector 1) begins
 * with the matching media byte and two 0xFF bytes. `fatStart` is the first bytes of sector 1.
 */
export function dos1Layout(sector0: Uint8Array, fatStart: Uint8Array, size: number): FatLayout | undefined {
  const g = DOS1[fatStart[0]!];
  if (!g || g.size !== size || fatStart[1] !== 0xff || fatStart[2] !== 0xff) return undefined;
  const r: RawBpb = {
    jump: sector0[0]!, oemName: '', bytesPerSector: 512, sectorsPerCluster: g.spc, reservedSectors: 1, numFats: 2,
    rootEntries: g.root, totalSectors16: size / 512, media: fatStart[0]!, fatSize16: g.fat, sectorsPerTrack: g.spt,
    heads: g.heads, hiddenSectors: 0, totalSectors32: 0, fatSize32: 0, extFlags: 0, fsVersion: 0, rootCluster: 0,
    fsInfoSector: 0, backupBootSector: 0, signature: 0,
  };
  return layoutOf(r, sector0, 0, true);
}

/** BPB fields for `dump` / `info`. */
export function bpbFields(l: FatLayout): Record<string, unknown> {
  const { raw, ...rest } = l;
  return { ...raw, ...rest, media: `0x${raw.media.toString(16)}`, signature: `0x${raw.signature.toString(16)}` };
}
