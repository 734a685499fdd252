/** El Torito 1.0: boot catalog (validation, default, section headers and entries). */
import { Parser, ByteWriter, CorruptImageError, SliceDevice, type BlockDevice } from '@diskit/core';
import { SECTOR } from './structs.js';

export const PLATFORM_NAMES: Record<number, string> = { 0: 'x86', 1: 'PowerPC', 2: 'Mac', 0xef: 'EFI' };
export const MEDIA_NAMES = ['no-emulation', '1.2M floppy', '1.44M floppy', '2.88M floppy', 'hard disk'];

export interface BootEntry {
  /** Byte offset of the 32-byte entry in the image. */
  offset: number;
  section: number;
  platformId: number;
  platform: string;
  bootable: boolean;
  mediaType: number;
  media: string;
  loadSegment: number;
  systemType: number;
  /** Virtual 512-byte sectors loaded by the BIOS. */
  sectorCount: number;
  loadRba: number;
  /** Bytes of the boot image we can tell (emulation size or load size). */
  imageSize: number;
  sectionId?: string;
}

export interface BootCatalog {
  lba: number;
  offset: number;
  validation: { platformId: number; platform: string; idString: string; checksum: number; checksumOk: boolean };
  entries: BootEntry[];
}

const validationParser = new Parser()
  .endianness('little')
  .uint8('headerId')
  .uint8('platformId')
  .uint16('reserved')
  .string('idString', { length: 24, encoding: 'latin1', stripNull: true })
  .uint16('checksum')
  .uint8('key55')
  .uint8('keyAA');

const entryParser = new Parser()
  .endianness('little')
  .uint8('indicator')
  .uint8('mediaType')
  .uint16('loadSegment')
  .uint8('systemType')
  .uint8('unused')
  .uint16('sectorCount')
  .uint32('loadRba');

const sectionParser = new Parser()
  .endianness('little')
  .uint8('indicator')
  .uint8('platformId')
  .uint16('count')
  .string('idString', { length: 28, encoding: 'latin1', stripNull: true });

export function validationChecksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 32; i += 2) if (i !== 28) s = (s + (b[i]! | (b[i + 1]! << 8))) & 0xffff;
  return (0x10000 - s) & 0xffff;
}

function emulatedSize(media: number, count: number): number {
  switch (media & 0x0f) {
    case 1: return 1200 * 1024;
    case 2: return 1440 * 1024;
    case 3: return 2880 * 1024;
    default: return count * 512;
  }
}

export async function readBootCatalog(dev: BlockDevice, lba: number): Promise<BootCatalog> {
  const offset = lba * SECTOR;
  if (offset + SECTOR > dev.size) throw new CorruptImageError('El Torito boot catalog', offset, `a sector inside the image (size ${dev.size})`);
  const b = new Uint8Array(SECTOR);
  await dev.read(b, offset);
  const v = validationParser.parse(b.subarray(0, 32)) as { headerId: number; platformId: number; idString: string; checksum: number; key55: number; keyAA: number };
  if (v.headerId !== 1 || v.key55 !== 0x55 || v.keyAA !== 0xaa) {
    throw new CorruptImageError('El Torito validation entry', offset, 'header id 1 and key 55 AA', `header ${v.headerId}, key ${v.key55.toString(16)} ${v.keyAA.toString(16)}`);
  }
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + (b[i]! | (b[i + 1]! << 8))) & 0xffff;
  const cat: BootCatalog = {
    lba, offset,
    validation: { platformId: v.platformId, platform: PLATFORM_NAMES[v.platformId] ?? `0x${v.platformId.toString(16)}`, idString: v.idString.trim(), checksum: v.checksum, checksumOk: sum === 0 },
    entries: [],
  };
  const toEntry = (p: number, section: number, platformId: number, sectionId?: string): BootEntry => {
    const e = entryParser.parse(b.subarray(p, p + 12)) as { indicator: number; mediaType: number; loadSegment: number; systemType: number; sectorCount: number; loadRba: number };
    const media = e.mediaType & 0x0f;
    return {
      offset: offset + p, section, platformId, platform: PLATFORM_NAMES[platformId] ?? `0x${platformId.toString(16)}`,
      bootable: e.indicator === 0x88, mediaType: e.mediaType, media: MEDIA_NAMES[media] ?? `type ${media}`,
      loadSegment: e.loadSegment, systemType: e.systemType, sectorCount: e.sectorCount, loadRba: e.loadRba,
      imageSize: emulatedSize(media, e.sectorCount), ...(sectionId ? { sectionId } : {}),
    };
  };
  cat.entries.push(toEntry(32, 0, v.platformId));
  let p = 64;
  let section = 0;
  while (p + 32 <= SECTOR) {
    const ind = b[p]!;
    if (ind !== 0x90 && ind !== 0x91) break;
    const h = sectionParser.parse(b.subarray(p, p + 32)) as { indicator: number; platformId: number; count: number; idString: string };
    section++;
    p += 32;
    for (let i = 0; i < h.count && p + 32 <= SECTOR; i++) {
      if (b[p] !== 0x88 && b[p] !== 0x00) break;
      cat.entries.push(toEntry(p, section, h.platformId, h.idString.trim() || undefined));
      p += 32;
      // Extension entries (0x44) follow their entry.
      while (p + 32 <= SECTOR && b[p] === 0x44) p += 32;
    }
    if (ind === 0x91) break;
  }
  return cat;
}

/** A boot image as a device (clamped to the image's end). */
export function openBootImage(dev: BlockDevice, e: BootEntry, size = e.imageSize): BlockDevice {
  const start = e.loadRba * SECTOR;
  if (start > dev.size) throw new CorruptImageError('El Torito boot entry', e.offset, 'a load RBA inside the image', String(e.loadRba));
  return new SliceDevice(dev, start, Math.min(size, dev.size - start));
}

/** Encode a boot catalog sector. */
export function encodeBootCatalog(entries: { platformId: number; mediaType: number; loadSegment: number; systemType: number; sectorCount: number; loadRba: number }[], idString = ''): Uint8Array {
  const w = new ByteWriter(SECTOR);
  const first = entries[0]!;
  w.u8(0, 1).u8(1, first.platformId).ascii(4, idString, 24);
  w.u8(30, 0x55).u8(31, 0xaa);
  w.u16le(28, validationChecksum(w.bytes));
  const put = (p: number, e: (typeof entries)[number]) => {
    w.u8(p, 0x88).u8(p + 1, e.mediaType).u16le(p + 2, e.loadSegment).u8(p + 4, e.systemType).u16le(p + 6, e.sectorCount).u32le(p + 8, e.loadRba);
  };
  put(32, first);
  let p = 64;
  const rest = entries.slice(1);
  rest.forEach((e, i) => {
    w.u8(p, i === rest.length - 1 ? 0x91 : 0x90).u8(p + 1, e.platformId).u16le(p + 2, 1);
    p += 32;
    put(p, e);
    p += 32;
  });
  return w.bytes;
}
