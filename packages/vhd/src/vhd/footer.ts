/**
 * The VHD footer (Microsoft Virtual Hard Disk Image Format Specification v1.0): 512 bytes at the
 * end of every VHD, copied to offset 0 in dynamic and differencing disks. Big-endian.
 */
import {
  ByteWriter, CorruptImageError, Parser, TruncatedImageError, ascii, guidToBytes, guidToString, u64,
  type BlockDevice, type Problem, type ProbeInput,
} from '@diskit/core';

export const VHD_FOOTER_SIZE = 512;
/** Seconds between 1970-01-01 and 2000-01-01 (VHD timestamps count from 2000). */
export const VHD_EPOCH = 946684800;
/** qemu's limits (block/vpc.c). */
export const VHD_MAX_GEOMETRY = 65535 * 16 * 255;
export const VHD_MAX_SECTORS = 0xff000000;

export type VhdDiskType = 'fixed' | 'dynamic' | 'differencing';
export const DISK_TYPES: Record<number, VhdDiskType> = { 2: 'fixed', 3: 'dynamic', 4: 'differencing' };

export interface VhdFooter {
  cookie: string;
  features: number;
  version: number;
  dataOffset: bigint;
  timestamp: number;
  creatorApp: string;
  creatorVersion: number;
  creatorHostOs: string;
  originalSize: number;
  currentSize: number;
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
  diskType: number;
  checksum: number;
  uniqueId: string;
  savedState: number;
}

const footerParser = new Parser()
  .endianness('big')
  .string('cookie', { length: 8, encoding: 'latin1' })
  .uint32('features')
  .uint32('version')
  .uint64('dataOffset')
  .uint32('timestamp')
  .string('creatorApp', { length: 4, encoding: 'latin1' })
  .uint32('creatorVersion')
  .string('creatorHostOs', { length: 4, encoding: 'latin1' })
  .uint64('originalSize')
  .uint64('currentSize')
  .uint16('cylinders')
  .uint8('heads')
  .uint8('sectorsPerTrack')
  .uint32('diskType')
  .uint32('checksum')
  .buffer('uniqueId', { length: 16 })
  .uint8('savedState');

export function parseVhdFooter(b: Uint8Array, offset = 0): VhdFooter {
  const f = footerParser.parse(b.subarray(0, VHD_FOOTER_SIZE));
  return {
    ...f,
    originalSize: u64(f.originalSize, 'VHD footer', offset + 40),
    currentSize: u64(f.currentSize, 'VHD footer', offset + 48),
    uniqueId: guidToString(f.uniqueId),
  };
}

export function encodeVhdFooter(f: VhdFooter): Uint8Array {
  const w = new ByteWriter(VHD_FOOTER_SIZE);
  w.ascii(0, f.cookie, 8).u32be(8, f.features).u32be(12, f.version).u64be(16, f.dataOffset).u32be(24, f.timestamp)
    .ascii(28, f.creatorApp, 4).u32be(32, f.creatorVersion).ascii(36, f.creatorHostOs, 4)
    .u64be(40, f.originalSize).u64be(48, f.currentSize).u16be(56, f.cylinders).u8(58, f.heads)
    .u8(59, f.sectorsPerTrack).u32be(60, f.diskType).u32be(64, f.checksum).bytesAt(68, guidToBytes(f.uniqueId))
    .u8(84, f.savedState);
  return w.bytes;
}

/** One's complement of the byte sum, skipping the 4-byte checksum field at `at`. */
export function vhdChecksum(b: Uint8Array, at: number): number {
  let sum = 0;
  for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) sum += b[i]!;
  return ~sum >>> 0;
}

export function withChecksum(b: Uint8Array, at: number): Uint8Array {
  new ByteWriter(b).u32be(at, vhdChecksum(b, at));
  return b;
}

/** The footer's bytes with its checksum filled in. */
export function footerBytesOf(f: VhdFooter): Uint8Array {
  return withChecksum(encodeVhdFooter({ ...f, checksum: 0 }), 64);
}

/** qemu's calculate_geometry (block/vpc.c), from the VHD specification's appendix. */
export function vhdGeometry(totalSectors: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  totalSectors = Math.min(totalSectors, VHD_MAX_GEOMETRY);
  let spt: number, heads: number, cth: number;
  if (totalSectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(totalSectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(totalSectors / spt);
    heads = Math.max(4, Math.ceil(cth / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

/** The disk size as qemu computes it: CHS for 'vpc '/'qemu' unless the geometry is the maximum. */
export function vhdVirtualSize(f: VhdFooter): { size: number; source: 'chs' | 'currentSize' } {
  const chsSectors = f.cylinders * f.heads * f.sectorsPerTrack;
  const useChs = f.creatorApp === 'vpc ' || f.creatorApp === 'qemu';
  if (!useChs || chsSectors === VHD_MAX_GEOMETRY || !f.heads || !f.sectorsPerTrack) {
    return { size: Math.floor(f.currentSize / 512) * 512, source: 'currentSize' };
  }
  return { size: chsSectors * 512, source: 'chs' };
}

export function footerValid(b: Uint8Array): boolean {
  return ascii(b, 0, 8) === 'conectix';
}

/** Cookie and checksum both right. */
export function footerSound(b: Uint8Array): boolean {
  return footerValid(b) && vhdChecksum(b, 64) === new DataView(b.buffer, b.byteOffset).getUint32(64);
}

export function probeVhd(input: ProbeInput): number {
  if (input.tail.length >= 512 && ascii(input.tail, input.tail.length - 512, 8) === 'conectix') return 100;
  // A footer of 511 bytes (pre-2004 Virtual PC) or only the copy at the start.
  if (input.tail.length >= 511 && ascii(input.tail, input.tail.length - 511, 8) === 'conectix') return 95;
  if (input.head.length >= 512 && ascii(input.head, 0, 8) === 'conectix') return 90;
  return 0;
}

/** "checksum 0x… does not match the computed 0x…" for a structure whose 32-bit checksum sits at `at`. */
export function checksumMismatch(b: Uint8Array, at: number): string {
  const stored = new DataView(b.buffer, b.byteOffset).getUint32(at);
  return `checksum 0x${stored.toString(16)} does not match the computed 0x${vhdChecksum(b, at).toString(16)}`;
}

export interface FooterRead {
  footer: VhdFooter;
  bytes: Uint8Array;
  /** Where the footer sits: end - 512 normally; the file size when the end holds none (dynamic disks). */
  offset: number;
  /** A bad checksum or a missing footer read around (the copy at offset 0 used, or the damaged footer as it is). */
  warnings: Problem[];
}

/** Find the footer: the one at the end (or a 511-byte one), else the copy at offset 0. */
export async function readFooter(file: BlockDevice): Promise<FooterRead> {
  if (file.size < VHD_FOOTER_SIZE) throw new TruncatedImageError('VHD footer', 0, VHD_FOOTER_SIZE, file.size);
  const tail = new Uint8Array(VHD_FOOTER_SIZE);
  const tailOff = file.size - VHD_FOOTER_SIZE;
  await file.read(tail, tailOff);
  const head = new Uint8Array(VHD_FOOTER_SIZE);
  await file.read(head, 0);

  const warnings: Problem[] = [];
  const warn = (offset: number, message: string) => warnings.push({ severity: 'warning', structure: 'VHD footer', offset, message });
  let footerBytes: Uint8Array | undefined;
  let footerOffset = tailOff;
  const tailOk = footerValid(tail);
  if (tailOk && footerSound(tail)) footerBytes = tail;
  else if (footerSound(head) && tailOff > 0) {
    footerBytes = head;
    warn(tailOff, tailOk ? `${checksumMismatch(tail, 64)}; using the copy at offset 0` : 'no footer at the end of the file; using the copy at offset 0');
    // A dynamic disk with a damaged tail footer: the footer's place is after the last block.
    if (!tailOk) footerOffset = file.size;
  } else if (tailOk) {
    footerBytes = tail;
    warn(tailOff, `${checksumMismatch(tail, 64)} (no good copy at offset 0: using it as it is)`);
  } else {
    // A 511-byte footer (pre-2004 Virtual PC), else a damaged copy at offset 0 and nothing at the end.
    const odd = new Uint8Array(VHD_FOOTER_SIZE);
    if (file.size >= 511) {
      odd.set(tail.subarray(1), 0);
      if (footerValid(odd)) {
        footerBytes = odd;
        footerOffset = file.size - 511;
        if (!footerSound(odd)) warn(footerOffset, `${checksumMismatch(odd, 64)} (using it as it is)`);
      }
    }
    if (!footerBytes && footerValid(head)) {
      footerBytes = head;
      footerOffset = file.size;
      warn(0, `${checksumMismatch(head, 64)} in the copy at offset 0, and there is no footer at the end (using the copy as it is)`);
    }
    if (!footerBytes) throw new CorruptImageError('VHD footer', tailOff, "cookie 'conectix'", JSON.stringify(ascii(tail, 0, 8)));
  }
  const footer = parseVhdFooter(footerBytes, footerOffset);
  if (!DISK_TYPES[footer.diskType]) throw new CorruptImageError('VHD footer', footerOffset + 60, 'disk type 2, 3 or 4', String(footer.diskType));
  return { footer, bytes: footerBytes, offset: footerOffset, warnings };
}
