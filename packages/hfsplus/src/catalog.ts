/**
 * Catalog B-tree keys and records (TN1150): folders, files and the thread records that map a
 * catalog node ID back to its parent and name.
 */
import { CorruptImageError } from '@diskit/core';
import { compareBinary, compareFolded, foldName } from './casefold.js';
import { parseForkData, type ForkData } from './volume-header.js';

export const REC_FOLDER = 1;
export const REC_FILE = 2;
export const REC_FOLDER_THREAD = 3;
export const REC_FILE_THREAD = 4;

export const ROOT_PARENT_ID = 1;
export const ROOT_FOLDER_ID = 2;
export const EXTENTS_FILE_ID = 3;
export const CATALOG_FILE_ID = 4;
export const ATTRIBUTES_FILE_ID = 8;

export interface CatalogKey {
  parentID: number;
  /** The name's UTF-16 units as stored (decomposed). */
  name: string;
}

export interface BsdInfo {
  ownerID: number;
  groupID: number;
  adminFlags: number;
  ownerFlags: number;
  fileMode: number;
  /** iNodeNum of a hard link, link count of an indirect node, or a device number. */
  special: number;
}

export interface CatalogFolder {
  type: typeof REC_FOLDER;
  flags: number;
  valence: number;
  id: number;
  createDate: number;
  contentModDate: number;
  attributeModDate: number;
  accessDate: number;
  bsd: BsdInfo;
}

export interface CatalogFile {
  type: typeof REC_FILE;
  flags: number;
  id: number;
  createDate: number;
  contentModDate: number;
  attributeModDate: number;
  accessDate: number;
  bsd: BsdInfo;
  fileType: number;
  creator: number;
  finderFlags: number;
  dataFork: ForkData;
  resourceFork: ForkData;
}

export interface CatalogThread {
  type: typeof REC_FOLDER_THREAD | typeof REC_FILE_THREAD;
  parentID: number;
  name: string;
}

export type CatalogRecord = CatalogFolder | CatalogFile | CatalogThread;

/** Decode `n` big-endian UTF-16 units at `off`. */
export function utf16be(b: Uint8Array, off: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i += 4096) {
    const m = Math.min(4096, n - i);
    const units = new Array<number>(m);
    for (let j = 0; j < m; j++) units[j] = (b[off + 2 * (i + j)]! << 8) | b[off + 2 * (i + j) + 1]!;
    s += String.fromCharCode(...units);
  }
  return s;
}

export function unitsOf(s: string): Uint16Array {
  const u = new Uint16Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return u;
}

/** A key's parent ID and name length, checked against the key's own length. */
function keyParts(key: Uint8Array, where: number): { parentID: number; nameLength: number } {
  const keyLength = (key[0]! << 8) | key[1]!;
  if (keyLength < 6 || key.length < 8) throw new CorruptImageError('HFS+ catalog key', where, 'a key length of at least 6', String(keyLength));
  const parentID = ((key[2]! << 24) | (key[3]! << 16) | (key[4]! << 8) | key[5]!) >>> 0;
  const nameLength = (key[6]! << 8) | key[7]!;
  if (nameLength > 255 || 6 + 2 * nameLength > keyLength) {
    throw new CorruptImageError('HFS+ catalog key', where, `a name of at most 255 units inside a ${keyLength}-byte key`, `${nameLength} units`);
  }
  return { parentID, nameLength };
}

export function parseCatalogKey(key: Uint8Array, where: number): CatalogKey {
  const { parentID, nameLength } = keyParts(key, where);
  return { parentID, name: utf16be(key, 8, nameLength) };
}

/** The parent ID of a catalog key, without decoding its name (a key too short for one is damage, not the end of a folder). */
export function keyParent(key: Uint8Array): number {
  if (key.length < 8 || ((key[0]! << 8) | key[1]!) < 6) throw new CorruptImageError('HFS+ catalog key', 0, 'a key length of at least 6', String((key[0]! << 8) | key[1]!));
  return ((key[2]! << 24) | (key[3]! << 16) | (key[4]! << 8) | key[5]!) >>> 0;
}

/**
 * A comparator of catalog keys against (parentID, name), in the volume's order: case-folded for
 * HFS+, binary for HFSX volumes whose catalog says 0xBC.
 */
export function catalogComparator(parentID: number, name: string, binary: boolean): (key: Uint8Array) => number {
  const units = unitsOf(name);
  const target = binary ? units : foldName(units);
  return (key) => {
    const { parentID: p, nameLength } = keyParts(key, 0);
    if (p !== parentID) return p < parentID ? -1 : 1;
    return binary ? compareBinary(key, 8, nameLength, target) : compareFolded(key, 8, nameLength, target);
  };
}

function bsdInfo(v: DataView, off: number): BsdInfo {
  return {
    ownerID: v.getUint32(off), groupID: v.getUint32(off + 4), adminFlags: v.getUint8(off + 8),
    ownerFlags: v.getUint8(off + 9), fileMode: v.getUint16(off + 10), special: v.getUint32(off + 12),
  };
}

/** Decode a catalog leaf record's data (after its key). */
export function parseCatalogRecord(d: Uint8Array, where: number): CatalogRecord {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  if (d.length < 2) throw new CorruptImageError('HFS+ catalog record', where, 'a record type', `${d.length} bytes`);
  const type = v.getInt16(0);
  const need = type === REC_FOLDER ? 88 : type === REC_FILE ? 248 : type === REC_FOLDER_THREAD || type === REC_FILE_THREAD ? 10 : -1;
  if (need < 0) throw new CorruptImageError('HFS+ catalog record', where, 'record type 1..4', String(type));
  if (d.length < need) throw new CorruptImageError('HFS+ catalog record', where, `${need} bytes for record type ${type}`, `${d.length} bytes`);
  if (type === REC_FOLDER) {
    return {
      type, flags: v.getUint16(2), valence: v.getUint32(4), id: v.getUint32(8), createDate: v.getUint32(12),
      contentModDate: v.getUint32(16), attributeModDate: v.getUint32(20), accessDate: v.getUint32(24), bsd: bsdInfo(v, 32),
    };
  }
  if (type === REC_FILE) return new FileRecord(d, v, where);
  const n = v.getUint16(8);
  if (n > 255 || 10 + 2 * n > d.length) throw new CorruptImageError('HFS+ catalog thread record', where + 8, 'a name of at most 255 units inside the record', `${n} units`);
  return { type: type as CatalogThread['type'], parentID: v.getUint32(4), name: utf16be(d, 10, n) };
}

/** A file record; its resource fork is decoded only when asked for (a listing never needs it). */
class FileRecord implements CatalogFile {
  readonly type = REC_FILE;
  readonly flags: number;
  readonly id: number;
  readonly createDate: number;
  readonly contentModDate: number;
  readonly attributeModDate: number;
  readonly accessDate: number;
  readonly bsd: BsdInfo;
  readonly fileType: number;
  readonly creator: number;
  readonly finderFlags: number;
  readonly dataFork: ForkData;
  private rsrc?: ForkData;

  constructor(private readonly d: Uint8Array, v: DataView, private readonly where: number) {
    this.flags = v.getUint16(2);
    this.id = v.getUint32(8);
    this.createDate = v.getUint32(12);
    this.contentModDate = v.getUint32(16);
    this.attributeModDate = v.getUint32(20);
    this.accessDate = v.getUint32(24);
    this.bsd = bsdInfo(v, 32);
    this.fileType = v.getUint32(48);
    this.creator = v.getUint32(52);
    this.finderFlags = v.getUint16(56);
    this.dataFork = parseForkData(d, 88, where + 88);
  }

  get resourceFork(): ForkData {
    return (this.rsrc ??= parseForkData(this.d, 168, this.where + 168));
  }
}

/** Four-character codes of special files. */
export const FOURCC = {
  hlnk: 0x686c6e6b, // a file hard link
  hfsPlus: 0x6866732b, // 'hfs+', its creator
  fdrp: 0x66647270, // a directory hard link
  MACS: 0x4d414353, // its creator
  slnk: 0x736c6e6b, // a symbolic link
  rhap: 0x72686170, // its creator
} as const;
