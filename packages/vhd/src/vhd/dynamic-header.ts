/**
 * The VHD dynamic disk header ('cxsparse', 1024 bytes at the footer's data offset): where the
 * BAT is, the block size, and for differencing disks the parent's identity and locators.
 */
import { ByteWriter, CorruptImageError, Parser, TruncatedImageError, ascii, guidToBytes, guidToString, u64, type BlockDevice, type Problem } from '@diskit/core';
import { encodeUtf16, isPow2, utf16 } from '../util.js';
import { checksumMismatch, vhdChecksum, vhdVirtualSize, withChecksum, type VhdFooter } from './footer.js';
import { EMPTY_LOCATOR, locatorParser, type VhdParentLocator } from './parent-locator.js';

export const VHD_HEADER_SIZE = 1024;

export interface VhdDynamicHeader {
  cookie: string;
  dataOffset: bigint;
  tableOffset: number;
  headerVersion: number;
  maxTableEntries: number;
  blockSize: number;
  checksum: number;
  parentUniqueId: string;
  parentTimestamp: number;
  parentUnicodeName: string;
  parentLocators: VhdParentLocator[];
}

const dynHeaderParser = new Parser()
  .endianness('big')
  .string('cookie', { length: 8, encoding: 'latin1' })
  .uint64('dataOffset')
  .uint64('tableOffset')
  .uint32('headerVersion')
  .uint32('maxTableEntries')
  .uint32('blockSize')
  .uint32('checksum')
  .buffer('parentUniqueId', { length: 16 })
  .uint32('parentTimestamp')
  .skip(4)
  .buffer('parentUnicodeName', { length: 512 })
  .array('parentLocators', { type: locatorParser, length: 8 });

export function parseVhdDynamicHeader(b: Uint8Array, offset = 0): VhdDynamicHeader {
  const h = dynHeaderParser.parse(b.subarray(0, VHD_HEADER_SIZE));
  return {
    ...h,
    tableOffset: u64(h.tableOffset, 'VHD dynamic header', offset + 16),
    parentUniqueId: guidToString(h.parentUniqueId),
    parentUnicodeName: utf16(h.parentUnicodeName, false),
    parentLocators: (h.parentLocators as Array<Record<string, unknown>>).map((l, i) => ({
      platformCode: l.platformCode as string,
      platformDataSpace: l.platformDataSpace as number,
      platformDataLength: l.platformDataLength as number,
      platformDataOffset: u64(l.platformDataOffset as bigint, 'VHD parent locator', offset + 576 + i * 24 + 16),
    })),
  };
}

export function encodeVhdDynamicHeader(h: VhdDynamicHeader): Uint8Array {
  const w = new ByteWriter(VHD_HEADER_SIZE);
  w.ascii(0, h.cookie, 8).u64be(8, h.dataOffset).u64be(16, h.tableOffset).u32be(24, h.headerVersion)
    .u32be(28, h.maxTableEntries).u32be(32, h.blockSize).u32be(36, h.checksum)
    .bytesAt(40, guidToBytes(h.parentUniqueId)).u32be(56, h.parentTimestamp)
    .bytesAt(64, encodeUtf16(h.parentUnicodeName, false).subarray(0, 512));
  h.parentLocators.forEach((l, i) => {
    const o = 576 + i * 24;
    w.ascii(o, l.platformCode, 4).u32be(o + 4, l.platformDataSpace).u32be(o + 8, l.platformDataLength).u64be(o + 16, l.platformDataOffset);
  });
  return w.bytes;
}

/** The header's bytes with its checksum filled in. */
export function headerBytesOf(h: VhdDynamicHeader): Uint8Array {
  return withChecksum(encodeVhdDynamicHeader({ ...h, checksum: 0 }), 36);
}

/** A new header (empty parent fields unless given; the locator list padded to eight). */
export function dynamicHeaderFor(tableOffset: number, entries: number, blockSize: number, parent?: Partial<VhdDynamicHeader>): VhdDynamicHeader {
  const locs = [...(parent?.parentLocators ?? [])];
  while (locs.length < 8) locs.push(EMPTY_LOCATOR);
  return {
    cookie: 'cxsparse', dataOffset: 0xffffffffffffffffn, tableOffset, headerVersion: 0x00010000, maxTableEntries: entries,
    blockSize, checksum: 0, parentUniqueId: parent?.parentUniqueId ?? '00000000-0000-0000-0000-000000000000',
    parentTimestamp: parent?.parentTimestamp ?? 0, parentUnicodeName: parent?.parentUnicodeName ?? '', parentLocators: locs,
  };
}

/**
 * Read and validate the dynamic header the footer points at. A bad checksum alone is not fatal
 * (there is no second copy, and every field is still checked): it goes into `warnings`.
 */
export async function readDynamicHeader(file: BlockDevice, footer: VhdFooter, footerOffset: number, warnings: Problem[]): Promise<VhdDynamicHeader> {
  const hdrOff = u64(footer.dataOffset, 'VHD footer', footerOffset + 16);
  if (hdrOff + VHD_HEADER_SIZE > file.size) throw new TruncatedImageError('VHD dynamic header', hdrOff, VHD_HEADER_SIZE, file.size);
  const hb = new Uint8Array(VHD_HEADER_SIZE);
  await file.read(hb, hdrOff);
  if (ascii(hb, 0, 8) !== 'cxsparse') throw new CorruptImageError('VHD dynamic header', hdrOff, "cookie 'cxsparse'", JSON.stringify(ascii(hb, 0, 8)));
  const header = parseVhdDynamicHeader(hb, hdrOff);
  if (vhdChecksum(hb, 36) !== header.checksum) {
    warnings.push({ severity: 'warning', structure: 'VHD dynamic header', offset: hdrOff, message: `${checksumMismatch(hb, 36)} (the only copy: using it as it is)` });
  }
  if (!isPow2(header.blockSize) || header.blockSize < 512 || header.blockSize > 1 << 30) {
    throw new CorruptImageError('VHD dynamic header', hdrOff + 32, 'a power-of-two block size from 512 bytes to 1 GiB', String(header.blockSize));
  }
  const vs = vhdVirtualSize(footer);
  if (header.maxTableEntries * header.blockSize < vs.size) {
    throw new CorruptImageError('VHD dynamic header', hdrOff + 28, `at least ${Math.ceil(vs.size / header.blockSize)} BAT entries`, String(header.maxTableEntries));
  }
  return header;
}
