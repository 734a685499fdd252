/**
 * exFAT directory entries (spec §6–§7): a file is an entry set — a File entry (0x85), a Stream
 * Extension (0xC0) and File Name entries (0xC1) — bound by the set checksum. The root also holds
 * the allocation bitmap (0x81), up-case table (0x82) and volume label (0x83) entries.
 */
import { CorruptImageError } from '@diskit/core';
import type { DataRun } from '../cluster-file.js';
import { nameHash, type Upcase } from './upcase.js';

export const ENTRY_BITMAP = 0x81;
export const ENTRY_UPCASE = 0x82;
export const ENTRY_LABEL = 0x83;
export const ENTRY_FILE = 0x85;
export const ENTRY_GUID = 0xa0;
export const ENTRY_STREAM = 0xc0;
export const ENTRY_NAME = 0xc1;

export const FLAG_ALLOCATION_POSSIBLE = 0x01;
export const FLAG_NO_FAT_CHAIN = 0x02;

export interface ExfatNode {
  name: string;
  attributes: number;
  isDirectory: boolean;
  noFatChain: boolean;
  firstCluster: number;
  dataLength: number;
  validDataLength: number;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
  /** Device offset of the File entry (for messages). */
  entryOffset: number;
}

export interface RootSpecials {
  bitmaps: { flags: number; firstCluster: number; dataLength: number; offset: number }[];
  upcase?: { checksum: number; firstCluster: number; dataLength: number; offset: number };
  label?: string;
}

/** The 16-bit set checksum over the entries of a set, skipping the checksum field itself (§6.3.3). */
export function setChecksum(b: Uint8Array, off: number, count: number): number {
  let sum = 0;
  for (let i = 0; i < count * 32; i++) {
    if (i === 2 || i === 3) continue;
    sum = ((((sum & 1) << 15) | (sum >>> 1)) + b[off + i]!) & 0xffff;
  }
  return sum;
}

/** An exFAT timestamp (§7.4.8): local time as stored, moved to UTC when its offset is valid. */
export function exfatTime(ts: number, tenMs: number, utcOffset: number): Date | undefined {
  if (ts === 0) return undefined;
  const sec = (ts & 31) * 2;
  const min = (ts >>> 5) & 63;
  const hour = (ts >>> 11) & 31;
  const day = (ts >>> 16) & 31;
  const month = (ts >>> 21) & 15;
  const year = 1980 + (ts >>> 25);
  if (day < 1 || month < 1 || month > 12 || hour > 23 || min > 59 || sec > 59) return undefined;
  let ms = Date.UTC(year, month - 1, day, hour, min, sec) + (tenMs <= 199 ? tenMs * 10 : 0);
  if (utcOffset & 0x80) {
    const quarters = (utcOffset & 0x7f) >= 0x40 ? (utcOffset & 0x7f) - 0x80 : utcOffset & 0x7f;
    ms -= quarters * 15 * 60_000;
  }
  return new Date(ms);
}

const u64 = (v: DataView, at: number) => v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;

/** Device offset of byte `at` of a directory laid out as `runs`. */
function devOffset(runs: DataRun[], at: number): number {
  for (const r of runs) if (at >= r.fileOffset && at < r.fileOffset + r.length) return r.devOffset + (at - r.fileOffset);
  return -1;
}

/**
 * Decode a directory's bytes (`specialsOnly`: just collect the root's special entries). A damaged
 * set (broken, a checksum or name-hash mismatch) is skipped and returned in `problems`, a
 * `CorruptImageError` naming the entry's device offset.
 */
export function parseEntrySets(data: Uint8Array, runs: DataRun[], upcase: Upcase | undefined, what: string, specials?: RootSpecials, specialsOnly = false): { nodes: ExfatNode[]; problems: CorruptImageError[] } {
  const nodes: ExfatNode[] = [];
  const problems: CorruptImageError[] = [];
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const fail = (at: number, expected: string, found?: string) => new CorruptImageError(`${what}: directory entry`, devOffset(runs, at), expected, found);
  const n = Math.floor(data.length / 32);
  for (let i = 0; i < n; i++) {
    const at = i * 32;
    const type = data[at]!;
    if (type === 0x00) break;
    if (!(type & 0x80)) continue; // unused or deleted
    if (type === ENTRY_FILE && specialsOnly) {
      i += data[at + 1]!; // mounting reads only the root's bitmap, up-case and label entries
    } else if (type === ENTRY_FILE) {
      const count = data[at + 1]!;
      try {
        nodes.push(parseFileSet(data, v, at, n - i, devOffset(runs, at), upcase, fail));
      } catch (e) {
        // A damaged set is reported and skipped; the directory's other sets are still read.
        if (!(e instanceof CorruptImageError)) throw e;
        problems.push(e);
      }
      if (count >= 2 && i + count < n) i += count;
    } else if (type === ENTRY_BITMAP && specials) {
      specials.bitmaps.push({ flags: data[at + 1]!, firstCluster: v.getUint32(at + 20, true), dataLength: u64(v, at + 24), offset: devOffset(runs, at) });
    } else if (type === ENTRY_UPCASE && specials) {
      specials.upcase = { checksum: v.getUint32(at + 4, true), firstCluster: v.getUint32(at + 20, true), dataLength: u64(v, at + 24), offset: devOffset(runs, at) };
    } else if (type === ENTRY_LABEL && specials) {
      const len = Math.min(11, data[at + 1]!);
      let label = '';
      for (let c = 0; c < len; c++) label += String.fromCharCode(v.getUint16(at + 2 + c * 2, true));
      specials.label = label;
    } else if (type >= 0xa0 && type < 0xc0) {
      i += data[at + 1]!; // a benign primary (volume GUID, TexFAT padding…) and its secondaries
    } else if (type < 0xa0) {
      problems.push(fail(at, 'a known critical primary entry (0x81, 0x82, 0x83, 0x85)', `0x${type.toString(16)}`));
    }
    // stray secondary entries (0xC0–0xFF) outside a set are skipped, as the spec's "unrecognised benign" ones
  }
  return { nodes, problems };
}

/** One file entry set at `at` (`left` entries remain in the directory), checked; throws what is wrong with it. */
function parseFileSet(data: Uint8Array, v: DataView, at: number, left: number, entryOffset: number, upcase: Upcase | undefined, fail: (at: number, expected: string, found?: string) => CorruptImageError): ExfatNode {
  const count = data[at + 1]!;
  if (count < 2 || count >= left) throw fail(at, 'a file entry set of 2 or more secondary entries inside the directory', `SecondaryCount ${count}`);
  const stored = v.getUint16(at + 2, true);
  const sum = setChecksum(data, at, count + 1);
  if (stored !== sum) throw fail(at, `set checksum 0x${sum.toString(16)}`, `0x${stored.toString(16)}`);
  const s = at + 32;
  if (data[s] !== ENTRY_STREAM) throw fail(s, 'a stream extension entry (0xC0) after the file entry', `0x${data[s]!.toString(16)}`);
  const nameLength = data[s + 3]!;
  const nameEntries = Math.ceil(nameLength / 15);
  if (nameLength === 0 || nameEntries > count - 1) throw fail(s, `a name of 1..${(count - 1) * 15} characters`, String(nameLength));
  let name = '';
  for (let k = 0; k < nameEntries; k++) {
    const e = s + 32 * (k + 1);
    if (data[e] !== ENTRY_NAME) throw fail(e, 'a file name entry (0xC1)', `0x${data[e]!.toString(16)}`);
    const chars = Math.min(15, nameLength - k * 15);
    for (let c = 0; c < chars; c++) name += String.fromCharCode(v.getUint16(e + 2 + c * 2, true));
  }
  if (upcase) {
    const h = nameHash(name, upcase);
    const storedHash = v.getUint16(s + 4, true);
    if (h !== storedHash) throw fail(s, `name hash 0x${h.toString(16)} of ${JSON.stringify(name)}`, `0x${storedHash.toString(16)}`);
  }
  if (name === '.' || name === '..' || /[/\0]/.test(name)) throw fail(at, 'a file name without "/" or NUL', JSON.stringify(name));
  const attributes = v.getUint16(at + 4, true);
  const flags = data[s + 1]!;
  const validDataLength = u64(v, s + 8);
  const dataLength = u64(v, s + 24);
  if (validDataLength > dataLength) throw fail(s, `a valid data length at most the data length ${dataLength}`, String(validDataLength));
  return {
    name, attributes, isDirectory: (attributes & 0x10) !== 0,
    noFatChain: (flags & FLAG_NO_FAT_CHAIN) !== 0,
    firstCluster: flags & FLAG_ALLOCATION_POSSIBLE ? v.getUint32(s + 20, true) : 0,
    dataLength: flags & FLAG_ALLOCATION_POSSIBLE ? dataLength : 0,
    validDataLength: flags & FLAG_ALLOCATION_POSSIBLE ? validDataLength : 0,
    ctime: exfatTime(v.getUint32(at + 8, true), data[at + 20]!, data[at + 22]!),
    mtime: exfatTime(v.getUint32(at + 12, true), data[at + 21]!, data[at + 23]!),
    atime: exfatTime(v.getUint32(at + 16, true), 0, data[at + 24]!),
    entryOffset,
  };
}
