import { Parser } from '@diskit/core';
import {
  ByteWriter, CorruptImageError, crc32, guidToBytes, guidToString, u64,
  type BlockDevice, type Partition, type Problem, type Structure,
} from '@diskit/core';

export interface GptHeader {
  signature: string;
  revision: number;
  headerSize: number;
  headerCrc32: number;
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  partitionEntryLba: number;
  numberOfEntries: number;
  sizeOfEntry: number;
  entriesCrc32: number;
}

export interface GptEntry {
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  name: string;
}

const headerParser = new Parser()
  .endianness('little')
  .string('signature', { length: 8, encoding: 'latin1' })
  .uint32('revision')
  .uint32('headerSize')
  .uint32('headerCrc32')
  .skip(4)
  .uint64('myLba')
  .uint64('alternateLba')
  .uint64('firstUsableLba')
  .uint64('lastUsableLba')
  .buffer('diskGuid', { length: 16 })
  .uint64('partitionEntryLba')
  .uint32('numberOfEntries')
  .uint32('sizeOfEntry')
  .uint32('entriesCrc32');

const entryParser = new Parser()
  .endianness('little')
  .buffer('typeGuid', { length: 16 })
  .buffer('uniqueGuid', { length: 16 })
  .uint64('firstLba')
  .uint64('lastLba')
  .uint64('attributes')
  .buffer('name', { length: 72 });

export const GPT_SIGNATURE = 'EFI PART';
const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export function parseGptHeader(sector: Uint8Array, offset = 0): GptHeader {
  const h = headerParser.parse(sector.subarray(0, 92));
  return {
    ...h,
    myLba: u64(h.myLba, 'GPT header', offset + 24),
    alternateLba: u64(h.alternateLba, 'GPT header', offset + 32),
    firstUsableLba: u64(h.firstUsableLba, 'GPT header', offset + 40),
    lastUsableLba: u64(h.lastUsableLba, 'GPT header', offset + 48),
    diskGuid: guidToString(h.diskGuid),
    partitionEntryLba: u64(h.partitionEntryLba, 'GPT header', offset + 72),
  };
}

/** Encode a header into `headerSize` bytes (CRC field as given: see withHeaderCrc). */
export function encodeGptHeader(h: GptHeader): Uint8Array {
  const w = new ByteWriter(h.headerSize);
  w.ascii(0, h.signature, 8).u32le(8, h.revision).u32le(12, h.headerSize).u32le(16, h.headerCrc32)
    .u64le(24, h.myLba).u64le(32, h.alternateLba).u64le(40, h.firstUsableLba).u64le(48, h.lastUsableLba)
    .bytesAt(56, guidToBytes(h.diskGuid)).u64le(72, h.partitionEntryLba).u32le(80, h.numberOfEntries)
    .u32le(84, h.sizeOfEntry).u32le(88, h.entriesCrc32);
  return w.bytes;
}

/** The header CRC32: computed over headerSize bytes with the CRC field zeroed. */
export function gptHeaderCrc(raw: Uint8Array, headerSize: number): number {
  const copy = raw.slice(0, headerSize);
  copy.fill(0, 16, 20);
  return crc32(copy);
}

export function parseGptEntry(b: Uint8Array): GptEntry {
  const e = entryParser.parse(b.subarray(0, 128));
  const nameBytes: Uint8Array = e.name;
  let name = '';
  for (let i = 0; i + 1 < 72; i += 2) {
    const c = nameBytes[i]! | (nameBytes[i + 1]! << 8);
    if (c === 0) break;
    name += String.fromCharCode(c);
  }
  return {
    typeGuid: guidToString(e.typeGuid),
    uniqueGuid: guidToString(e.uniqueGuid),
    firstLba: u64(e.firstLba, 'GPT entry', 32),
    lastLba: u64(e.lastLba, 'GPT entry', 40),
    attributes: e.attributes,
    name,
  };
}

export function encodeGptEntry(e: GptEntry, size = 128): Uint8Array {
  const w = new ByteWriter(size);
  w.bytesAt(0, guidToBytes(e.typeGuid)).bytesAt(16, guidToBytes(e.uniqueGuid))
    .u64le(32, e.firstLba).u64le(40, e.lastLba).u64le(48, e.attributes);
  for (let i = 0; i < Math.min(e.name.length, 36); i++) w.u16le(56 + i * 2, e.name.charCodeAt(i));
  return w.bytes;
}

export interface GptResult {
  header: GptHeader;
  /** Which copy was used. */
  source: 'primary' | 'backup';
  partitions: Partition[];
  entries: GptEntry[];
  problems: Problem[];
  /** CRC32 failures read around (the other copy used, or a damaged one as it is): every command shows them. */
  warnings: Problem[];
  structures: Structure[];
}

interface HeaderRead {
  header: GptHeader;
  offset: number;
  entriesRaw: Uint8Array;
  problems: Problem[];
  /** The CRC32 failures among `problems`. */
  checksums: Problem[];
}

/** Read and verify one GPT header and its entry array. Returns problems rather than throwing. */
async function readHeaderAt(dev: BlockDevice, lba: number, sectorSize: number, which: string): Promise<HeaderRead | { problems: Problem[] }> {
  const off = lba * sectorSize;
  const structure = `GPT ${which} header`;
  if (off + sectorSize > dev.size) return { problems: [{ severity: 'error', structure, offset: off, message: `${structure} at LBA ${lba} lies past the end of the disk` }] };
  const sector = new Uint8Array(sectorSize);
  await dev.read(sector, off);
  const sig = new TextDecoder('latin1').decode(sector.subarray(0, 8));
  if (sig !== GPT_SIGNATURE) return { problems: [{ severity: 'error', structure, offset: off, message: `${structure}: no "EFI PART" signature` }] };
  const header = parseGptHeader(sector, off);
  const problems: Problem[] = [];
  const checksums: Problem[] = [];
  if (header.headerSize < 92 || header.headerSize > sectorSize) {
    return { problems: [{ severity: 'error', structure, offset: off + 12, message: `${structure}: header size ${header.headerSize} not in 92..${sectorSize}` }] };
  }
  const crc = gptHeaderCrc(sector, header.headerSize);
  if (crc !== header.headerCrc32) {
    checksums.push({ severity: 'error', structure, offset: off + 16, message: `${structure}: CRC32 0x${header.headerCrc32.toString(16)} does not match computed 0x${crc.toString(16)}` });
    problems.push(checksums[checksums.length - 1]!);
  }
  if (header.sizeOfEntry < 128 || header.sizeOfEntry % 8 !== 0 || header.sizeOfEntry > 4096) {
    return { problems: [...problems, { severity: 'error', structure, offset: off + 84, message: `${structure}: entry size ${header.sizeOfEntry} invalid` }] };
  }
  const entriesLen = header.numberOfEntries * header.sizeOfEntry;
  const entriesOff = header.partitionEntryLba * sectorSize;
  // Refuse arrays the disk cannot hold (and absurd counts) before allocating.
  if (header.numberOfEntries > 65536 || entriesOff + entriesLen > dev.size) {
    return { problems: [...problems, { severity: 'error', structure, offset: off + 80, message: `${structure}: ${header.numberOfEntries} entries at LBA ${header.partitionEntryLba} do not fit in the disk` }] };
  }
  const entriesRaw = new Uint8Array(entriesLen);
  await dev.read(entriesRaw, entriesOff);
  const ecrc = crc32(entriesRaw);
  if (ecrc !== header.entriesCrc32) {
    checksums.push({ severity: 'error', structure: `GPT ${which} entries`, offset: entriesOff, message: `GPT ${which} entry array CRC32 0x${header.entriesCrc32.toString(16)} does not match computed 0x${ecrc.toString(16)}` });
    problems.push(checksums[checksums.length - 1]!);
  }
  return { header, offset: off, entriesRaw, problems, checksums };
}

/**
 * Read a GPT: the primary header at LBA 1, the backup at the primary's alternate LBA (or the last
 * sector). Both CRC32s of both copies are checked; a damaged primary falls back to the backup.
 */
export async function readGpt(dev: BlockDevice, sectorSize = 512): Promise<GptResult | null> {
  const lastLba = Math.floor(dev.size / sectorSize) - 1;
  const primary = await readHeaderAt(dev, 1, sectorSize, 'primary');
  const backupLba = 'header' in primary && primary.header.alternateLba <= lastLba ? primary.header.alternateLba : lastLba;
  const backup = await readHeaderAt(dev, backupLba, sectorSize, 'backup');
  const problems = [...primary.problems, ...backup.problems];
  const isRead = (r: HeaderRead | { problems: Problem[] }): r is HeaderRead => 'header' in r;
  const good = (r: HeaderRead | { problems: Problem[] }) => isRead(r) && r.problems.length === 0;
  const chosen: HeaderRead | null = good(primary) ? (primary as HeaderRead) : good(backup) ? (backup as HeaderRead)
    : isRead(primary) ? primary : isRead(backup) ? backup : null;
  if (!chosen) {
    if (!('header' in primary) && !('header' in backup) && primary.problems[0]?.message.includes('signature')) return null;
    throw new CorruptImageError('GPT', sectorSize, 'a valid GPT header', primary.problems.concat(backup.problems).map((p) => p.message).join('; '));
  }
  if ('header' in primary && 'header' in backup && primary.header.alternateLba !== backupLba) {
    problems.push({ severity: 'warning', structure: 'GPT primary header', offset: sectorSize + 32, message: `backup header expected at LBA ${primary.header.alternateLba}, disk ends at LBA ${lastLba}` });
  }
  if (!('header' in backup) && 'header' in primary && primary.header.alternateLba !== lastLba) {
    problems.push({ severity: 'warning', structure: 'GPT', offset: dev.size - sectorSize, message: 'backup GPT is not at the last sector (disk resized?)' });
  }
  const warnings: Problem[] = [];
  for (const r of [primary, backup]) {
    if (!isRead(r)) continue;
    const using = r === chosen ? 'no good copy: using it as it is' : `using the ${chosen === primary ? 'primary' : 'backup'} copy`;
    for (const p of r.checksums) warnings.push({ ...p, severity: 'warning', message: `${p.message.replace(`${p.structure}: `, '')}; ${using}` });
  }
  const { header, entriesRaw } = chosen;
  const entries: GptEntry[] = [];
  const partitions: Partition[] = [];
  for (let i = 0; i < header.numberOfEntries; i++) {
    const raw = entriesRaw.subarray(i * header.sizeOfEntry, (i + 1) * header.sizeOfEntry);
    const e = parseGptEntry(raw);
    entries.push(e);
    if (e.typeGuid === ZERO_GUID) continue;
    if (e.lastLba < e.firstLba) {
      problems.push({ severity: 'error', structure: 'GPT entry', offset: header.partitionEntryLba * sectorSize + i * header.sizeOfEntry, message: `partition ${i + 1} ends (LBA ${e.lastLba}) before it starts (LBA ${e.firstLba})` });
      continue;
    }
    // An entry past the end of the image (a short dump) is still listed: readPartitionTable marks it.
    partitions.push({
      index: i + 1, start: e.firstLba * sectorSize, size: (e.lastLba - e.firstLba + 1) * sectorSize,
      type: e.typeGuid, name: e.name, uuid: e.uniqueGuid, scheme: 'gpt',
    });
  }
  const structures: Structure[] = [];
  for (const [which, r] of [['primary', primary], ['backup', backup]] as const) {
    if ('header' in r) {
      structures.push({ name: `GPT ${which} header`, offset: r.offset, size: r.header.headerSize, fields: { ...r.header } });
      structures.push({
        name: `GPT ${which} entries`, offset: r.header.partitionEntryLba * sectorSize, size: r.entriesRaw.length,
        fields: { used: partitions.length, of: r.header.numberOfEntries },
      });
    }
  }
  return { header, source: chosen === primary ? 'primary' : 'backup', partitions, entries, problems, warnings, structures };
}
