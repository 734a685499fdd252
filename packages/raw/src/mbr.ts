import { Parser } from '@diskit/core';
import { ByteWriter, CorruptImageError, type BlockDevice, type Partition, type Problem, type Structure } from '@diskit/core';

/** One 16-byte MBR partition entry. */
export interface MbrEntry {
  status: number;
  chsFirst: number[];
  type: number;
  chsLast: number[];
  lbaStart: number;
  sectors: number;
}

export interface Mbr {
  bootCode: Uint8Array;
  diskSignature: number;
  entries: MbrEntry[];
  signature: number;
}

const entryParser = new Parser()
  .endianness('little')
  .uint8('status')
  .array('chsFirst', { type: 'uint8', length: 3 })
  .uint8('type')
  .array('chsLast', { type: 'uint8', length: 3 })
  .uint32('lbaStart')
  .uint32('sectors');

const mbrParser = new Parser()
  .endianness('little')
  .buffer('bootCode', { length: 440 })
  .uint32('diskSignature')
  .skip(2)
  .array('entries', { type: entryParser, length: 4 })
  .uint16('signature');

export const MBR_SIGNATURE = 0xaa55;
export const EXTENDED_TYPES = new Set([0x05, 0x0f, 0x85]);
export const GPT_PROTECTIVE = 0xee;

/** Decode a 512-byte MBR sector (or EBR). Does not judge it: see hasMbrSignature. */
export function parseMbr(sector: Uint8Array): Mbr {
  const m = mbrParser.parse(sector.subarray(0, 512)) as Mbr;
  return { ...m, bootCode: new Uint8Array(m.bootCode) };
}

export function encodeMbr(m: Mbr): Uint8Array {
  const w = new ByteWriter(512);
  w.bytesAt(0, m.bootCode.subarray(0, 440)).u32le(440, m.diskSignature);
  m.entries.forEach((e, i) => {
    const o = 446 + i * 16;
    w.u8(o, e.status).bytesAt(o + 1, Uint8Array.from(e.chsFirst)).u8(o + 4, e.type)
      .bytesAt(o + 5, Uint8Array.from(e.chsLast)).u32le(o + 8, e.lbaStart).u32le(o + 12, e.sectors);
  });
  return w.u16le(510, m.signature).bytes;
}

export function hasMbrSignature(sector: Uint8Array): boolean {
  return sector.length >= 512 && sector[510] === 0x55 && sector[511] === 0xaa;
}

const hex = (t: number) => '0x' + t.toString(16).padStart(2, '0');

export interface MbrResult {
  mbr: Mbr;
  partitions: Partition[];
  structures: Structure[];
  /** An EBR chain that runs past the end of the image (a short dump): listed up to there. */
  problems: Problem[];
}

/**
 * Read an MBR and its chain of extended boot records. Logical partitions are numbered from 5,
 * as Linux and sfdisk do. A cycle is a CorruptImageError; an EBR past the end of the image (a
 * short dump) ends the chain with a warning, the partitions before it listed, as sfdisk does.
 */
export async function readMbr(dev: BlockDevice, sectorSize = 512): Promise<MbrResult> {
  const sector = new Uint8Array(512);
  await dev.read(sector, 0);
  if (!hasMbrSignature(sector)) throw new CorruptImageError('MBR', 510, 'signature 55 AA', hex(sector[510]!) + ' ' + hex(sector[511]!));
  const mbr = parseMbr(sector);
  const partitions: Partition[] = [];
  const structures: Structure[] = [{ name: 'MBR', offset: 0, size: 512, fields: { diskSignature: hex(mbr.diskSignature), entries: mbr.entries } }];
  const problems: Problem[] = [];
  const diskSectors = Math.floor(dev.size / sectorSize);

  mbr.entries.forEach((e, i) => {
    if (e.type === 0 || e.sectors === 0) return;
    partitions.push({
      index: i + 1, start: e.lbaStart * sectorSize, size: e.sectors * sectorSize, type: hex(e.type),
      scheme: 'mbr', bootable: e.status === 0x80, kind: EXTENDED_TYPES.has(e.type) ? 'extended' : 'primary',
    });
  });

  const ext = mbr.entries.find((e) => EXTENDED_TYPES.has(e.type) && e.sectors > 0);
  if (ext) {
    const extStart = ext.lbaStart;
    let ebrLba = extStart;
    let index = 5;
    const seen = new Set<number>();
    while (ebrLba !== 0) {
      const off = ebrLba * sectorSize;
      if (seen.has(ebrLba)) throw new CorruptImageError('EBR chain', off, 'no cycles', `EBR at sector ${ebrLba} seen twice`);
      if (seen.size > 1024) throw new CorruptImageError('EBR chain', off, 'at most 1024 EBRs');
      if (ebrLba >= diskSectors) {
        problems.push({ severity: 'warning', structure: 'EBR chain', offset: off, message: `EBR at sector ${ebrLba} lies past the end of the image (${diskSectors} sectors): logical partitions from ${index} on cannot be listed` });
        break;
      }
      seen.add(ebrLba);
      await dev.read(sector, off);
      if (!hasMbrSignature(sector)) throw new CorruptImageError('EBR', off + 510, 'signature 55 AA');
      const ebr = parseMbr(sector);
      const [cur, next] = ebr.entries as [MbrEntry, MbrEntry];
      structures.push({ name: `EBR ${index}`, offset: off, size: 512, fields: { entries: [cur, next] } });
      if (cur.type !== 0 && cur.sectors > 0) {
        partitions.push({
          index: index++, start: (ebrLba + cur.lbaStart) * sectorSize, size: cur.sectors * sectorSize,
          type: hex(cur.type), scheme: 'mbr', bootable: cur.status === 0x80, kind: 'logical',
        });
      }
      ebrLba = next.type !== 0 && next.sectors > 0 ? extStart + next.lbaStart : 0;
    }
  }
  return { mbr, partitions, structures, problems };
}
