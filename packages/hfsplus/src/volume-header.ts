/**
 * The HFS+ / HFSX volume header (TN1150): 512 bytes at byte 1024 of the volume, a copy 1024 bytes
 * before its end. Also the HFS master directory block of a wrapper volume that embeds an HFS+ one.
 */
import { CorruptImageError, UnsupportedFeatureError, type BlockDevice } from '@diskit/core';

export const SIG_HFSPLUS = 0x482b; // 'H+'
export const SIG_HFSX = 0x4858; // 'HX'
export const SIG_HFS = 0x4244; // 'BD': plain HFS, or a wrapper
export const HEADER_OFFSET = 1024;

export interface ExtentDescriptor {
  startBlock: number;
  blockCount: number;
}

export interface ForkData {
  logicalSize: number;
  clumpSize: number;
  totalBlocks: number;
  extents: ExtentDescriptor[];
}

export interface VolumeHeader {
  signature: number;
  version: number;
  attributes: number;
  lastMountedVersion: string;
  journalInfoBlock: number;
  createDate: number;
  modifyDate: number;
  backupDate: number;
  checkedDate: number;
  fileCount: number;
  folderCount: number;
  blockSize: number;
  totalBlocks: number;
  freeBlocks: number;
  nextCatalogID: number;
  writeCount: number;
  finderInfo: number[];
  allocationFile: ForkData;
  extentsFile: ForkData;
  catalogFile: ForkData;
  attributesFile: ForkData;
  startupFile: ForkData;
}

/** Volume attribute bits. */
export const VOL_UNMOUNTED = 1 << 8;
export const VOL_INCONSISTENT = 1 << 11;
export const VOL_JOURNALED = 1 << 13;
export const VOL_SOFTWARE_LOCK = 1 << 15;

/** An 80-byte HFSPlusForkData. 64-bit sizes beyond 2^53 are refused. */
export function parseForkData(b: Uint8Array, off: number, where: number): ForkData {
  const v = new DataView(b.buffer, b.byteOffset + off, 80);
  const hi = v.getUint32(0);
  if (hi >= 0x200000) throw new CorruptImageError('HFS+ fork data', where, 'a logical size below 2^53', `high word 0x${hi.toString(16)}`);
  // Used extents come first; the first empty one ends the list (as Apple's code reads it).
  const extents: ExtentDescriptor[] = [];
  for (let i = 0; i < 8; i++) {
    const blockCount = v.getUint32(20 + i * 8);
    if (blockCount === 0) break;
    extents.push({ startBlock: v.getUint32(16 + i * 8), blockCount });
  }
  return { logicalSize: hi * 2 ** 32 + v.getUint32(4), clumpSize: v.getUint32(8), totalBlocks: v.getUint32(12), extents };
}

export function parseVolumeHeader(b: Uint8Array, where: number): VolumeHeader {
  const v = new DataView(b.buffer, b.byteOffset, 512);
  const sig = v.getUint16(0);
  if (sig !== SIG_HFSPLUS && sig !== SIG_HFSX) {
    throw new CorruptImageError('HFS+ volume header', where, "signature 'H+' or 'HX'", `0x${sig.toString(16)}`);
  }
  const u = (o: number) => v.getUint32(o);
  const h: VolumeHeader = {
    signature: sig, version: v.getUint16(2), attributes: u(4),
    lastMountedVersion: String.fromCharCode(b[8]!, b[9]!, b[10]!, b[11]!),
    journalInfoBlock: u(12), createDate: u(16), modifyDate: u(20), backupDate: u(24), checkedDate: u(28),
    fileCount: u(32), folderCount: u(36), blockSize: u(40), totalBlocks: u(44), freeBlocks: u(48),
    nextCatalogID: u(64), writeCount: u(68), finderInfo: Array.from({ length: 8 }, (_, i) => u(80 + i * 4)),
    allocationFile: parseForkData(b, 112, where + 112), extentsFile: parseForkData(b, 192, where + 192),
    catalogFile: parseForkData(b, 272, where + 272), attributesFile: parseForkData(b, 352, where + 352),
    startupFile: parseForkData(b, 432, where + 432),
  };
  // A power of two from 512 (TN1150); 64 KiB is the largest any implementation writes.
  if (h.blockSize < 512 || h.blockSize > 1 << 16 || (h.blockSize & (h.blockSize - 1)) !== 0) {
    throw new CorruptImageError('HFS+ volume header', where + 40, 'a block size that is a power of two in 512..65536', String(h.blockSize));
  }
  if (h.totalBlocks === 0) throw new CorruptImageError('HFS+ volume header', where + 44, 'a non-zero block count', '0');
  return h;
}

/** Where the HFS+ volume starts inside `dev`: 0, or inside an HFS wrapper's embedded extent. */
export interface Located {
  offset: number;
  length: number;
  wrapped: boolean;
}

/**
 * Find the HFS+ volume: at byte 0 of the device, or embedded in an HFS wrapper (the master
 * directory block's drEmbedSigWord says 'H+' and drEmbedExtent where). Plain HFS is refused.
 */
export async function locateVolume(dev: BlockDevice): Promise<Located> {
  if (dev.size < HEADER_OFFSET + 512) throw new CorruptImageError('HFS+ volume header', HEADER_OFFSET, 'a volume of at least 1536 bytes', `${dev.size} bytes`);
  const b = new Uint8Array(512);
  await dev.read(b, HEADER_OFFSET);
  const v = new DataView(b.buffer);
  const sig = v.getUint16(0);
  if (sig === SIG_HFSPLUS || sig === SIG_HFSX) return { offset: 0, length: dev.size, wrapped: false };
  if (sig !== SIG_HFS) {
    // A damaged primary header: the alternate at the end may still say where everything is.
    const alt = new Uint8Array(48);
    if (dev.size >= 4096) await dev.read(alt, dev.size - 1024);
    const a = new DataView(alt.buffer);
    const altSig = a.getUint16(0);
    if ((altSig === SIG_HFSPLUS || altSig === SIG_HFSX) && a.getUint32(40) * a.getUint32(44) === dev.size) return { offset: 0, length: dev.size, wrapped: false };
    throw new CorruptImageError('HFS+ volume header', HEADER_OFFSET, "signature 'H+', 'HX' or an HFS wrapper 'BD'", `0x${sig.toString(16)}`);
  }
  if (v.getUint16(124) !== SIG_HFSPLUS) throw new UnsupportedFeatureError('plain HFS (Mac OS Standard) volumes are not supported, only HFS+ and HFSX');
  const allocBlockSize = v.getUint32(20);
  const firstAllocBlock = v.getUint16(28); // in 512-byte sectors
  const start = v.getUint16(126);
  const count = v.getUint16(128);
  if (allocBlockSize < 512 || allocBlockSize % 512 !== 0) {
    throw new CorruptImageError('HFS wrapper master directory block', HEADER_OFFSET + 20, 'an allocation block size that is a multiple of 512', String(allocBlockSize));
  }
  const offset = firstAllocBlock * 512 + start * allocBlockSize;
  const length = count * allocBlockSize;
  if (length < HEADER_OFFSET + 512 || offset + length > dev.size) {
    throw new CorruptImageError('HFS wrapper embedded extent', HEADER_OFFSET + 126, `an embedded volume inside the device (size ${dev.size})`, `bytes ${offset}..${offset + length}`);
  }
  return { offset, length, wrapped: true };
}

/** Seconds since 1904-01-01 00:00 UTC (HFS+ catalog dates) as a Date; 0 means never set. */
export function hfsDate(secs: number): Date | undefined {
  return secs === 0 ? undefined : new Date((secs - 2082844800) * 1000);
}
