/** ECMA-119 on-disk structures: volume descriptors, directory records, dates, path tables. */
import { Parser, ByteWriter, CorruptImageError } from '@diskit/core';

export const SECTOR = 2048;
export const VD_START = 16;

export const VD_BOOT = 0;
export const VD_PRIMARY = 1;
export const VD_SUPPLEMENTARY = 2;
export const VD_PARTITION = 3;
export const VD_TERMINATOR = 255;

/** The decoded fixed part of a primary / supplementary / enhanced volume descriptor. */
export interface RawVolumeDescriptor {
  type: number;
  id: string;
  version: number;
  flags: number;
  systemId: Uint8Array;
  volumeId: Uint8Array;
  volumeSpaceSize: number;
  escapes: Uint8Array;
  volumeSetSize: number;
  volumeSequenceNumber: number;
  logicalBlockSize: number;
  pathTableSize: number;
  lPathTable: number;
  optLPathTable: number;
  mPathTable: number;
  optMPathTable: number;
  rootRecord: Uint8Array;
  volumeSetId: Uint8Array;
  publisherId: Uint8Array;
  preparerId: Uint8Array;
  applicationId: Uint8Array;
  copyrightFileId: Uint8Array;
  abstractFileId: Uint8Array;
  bibliographicFileId: Uint8Array;
  creationDate: Uint8Array;
  modificationDate: Uint8Array;
  expirationDate: Uint8Array;
  effectiveDate: Uint8Array;
  fileStructureVersion: number;
}

const vdParser = new Parser()
  .endianness('little')
  .uint8('type')
  .string('id', { length: 5, encoding: 'latin1' })
  .uint8('version')
  .uint8('flags')
  .buffer('systemId', { length: 32 })
  .buffer('volumeId', { length: 32 })
  .skip(8)
  .uint32('volumeSpaceSize')
  .skip(4)
  .buffer('escapes', { length: 32 })
  .uint16('volumeSetSize')
  .skip(2)
  .uint16('volumeSequenceNumber')
  .skip(2)
  .uint16('logicalBlockSize')
  .skip(2)
  .uint32('pathTableSize')
  .skip(4)
  .uint32('lPathTable')
  .uint32('optLPathTable')
  .uint32be('mPathTable')
  .uint32be('optMPathTable')
  .buffer('rootRecord', { length: 34 })
  .buffer('volumeSetId', { length: 128 })
  .buffer('publisherId', { length: 128 })
  .buffer('preparerId', { length: 128 })
  .buffer('applicationId', { length: 128 })
  .buffer('copyrightFileId', { length: 37 })
  .buffer('abstractFileId', { length: 37 })
  .buffer('bibliographicFileId', { length: 37 })
  .buffer('creationDate', { length: 17 })
  .buffer('modificationDate', { length: 17 })
  .buffer('expirationDate', { length: 17 })
  .buffer('effectiveDate', { length: 17 })
  .uint8('fileStructureVersion');

export function parseVolumeDescriptor(sector: Uint8Array): RawVolumeDescriptor {
  return vdParser.parse(sector.subarray(0, 882)) as RawVolumeDescriptor;
}

/** Encode a volume descriptor (the mirror of parseVolumeDescriptor); application use left zero. */
export function encodeVolumeDescriptor(d: RawVolumeDescriptor, appUse?: Uint8Array): Uint8Array {
  const w = new ByteWriter(SECTOR);
  w.u8(0, d.type).ascii(1, d.id, 5).u8(6, d.version).u8(7, d.flags);
  w.bytesAt(8, d.systemId).bytesAt(40, d.volumeId);
  w.u32both(80, d.volumeSpaceSize).bytesAt(88, d.escapes);
  w.u16both(120, d.volumeSetSize).u16both(124, d.volumeSequenceNumber).u16both(128, d.logicalBlockSize);
  w.u32both(132, d.pathTableSize).u32le(140, d.lPathTable).u32le(144, d.optLPathTable);
  w.u32be(148, d.mPathTable).u32be(152, d.optMPathTable);
  w.bytesAt(156, d.rootRecord).bytesAt(190, d.volumeSetId).bytesAt(318, d.publisherId).bytesAt(446, d.preparerId);
  w.bytesAt(574, d.applicationId).bytesAt(702, d.copyrightFileId).bytesAt(739, d.abstractFileId);
  w.bytesAt(776, d.bibliographicFileId).bytesAt(813, d.creationDate).bytesAt(830, d.modificationDate);
  w.bytesAt(847, d.expirationDate).bytesAt(864, d.effectiveDate).u8(881, d.fileStructureVersion);
  if (appUse) w.bytesAt(883, appUse.subarray(0, 512));
  return w.bytes;
}

/** A directory record's fixed 33 bytes plus its identifier. */
export interface RawDirRecord {
  length: number;
  extAttrLength: number;
  extent: number;
  dataLength: number;
  date: Uint8Array;
  flags: number;
  unitSize: number;
  gapSize: number;
  volumeSequenceNumber: number;
  nameLength: number;
}

const dirParser = new Parser()
  .endianness('little')
  .uint8('length')
  .uint8('extAttrLength')
  .uint32('extent')
  .skip(4)
  .uint32('dataLength')
  .skip(4)
  .buffer('date', { length: 7 })
  .uint8('flags')
  .uint8('unitSize')
  .uint8('gapSize')
  .uint16('volumeSequenceNumber')
  .skip(2)
  .uint8('nameLength');

export const FLAG_HIDDEN = 0x01;
export const FLAG_DIRECTORY = 0x02;
export const FLAG_ASSOCIATED = 0x04;
export const FLAG_RECORD = 0x08;
export const FLAG_PROTECTION = 0x10;
export const FLAG_MULTI_EXTENT = 0x80;

export function parseDirRecord(b: Uint8Array): RawDirRecord {
  return dirParser.parse(b.subarray(0, 33)) as RawDirRecord;
}

/**
 * The same decode as parseDirRecord, by hand: the directory walk's hot loop (a test checks both
 * agree on real records).
 */
export function parseDirRecordFast(b: Uint8Array): RawDirRecord {
  return {
    length: b[0]!,
    extAttrLength: b[1]!,
    extent: (b[2]! | (b[3]! << 8) | (b[4]! << 16) | (b[5]! << 24)) >>> 0,
    dataLength: (b[10]! | (b[11]! << 8) | (b[12]! << 16) | (b[13]! << 24)) >>> 0,
    date: b.subarray(18, 25),
    flags: b[25]!,
    unitSize: b[26]!,
    gapSize: b[27]!,
    volumeSequenceNumber: b[28]! | (b[29]! << 8),
    nameLength: b[32]!,
  };
}

/** Encode a directory record: identifier bytes, padding to even, then system use bytes. */
export function encodeDirRecord(r: Omit<RawDirRecord, 'length' | 'nameLength'>, name: Uint8Array, su?: Uint8Array): Uint8Array {
  const pad = name.length % 2 === 0 ? 1 : 0;
  const len = 33 + name.length + pad + (su?.length ?? 0);
  if (len > 255) throw new RangeError(`directory record of ${len} bytes`);
  const w = new ByteWriter(len);
  w.u8(0, len).u8(1, r.extAttrLength).u32both(2, r.extent).u32both(10, r.dataLength).bytesAt(18, r.date);
  w.u8(25, r.flags).u8(26, r.unitSize).u8(27, r.gapSize).u16both(28, r.volumeSequenceNumber).u8(32, name.length);
  w.bytesAt(33, name);
  if (su) w.bytesAt(33 + name.length + pad, su);
  return w.bytes;
}

/** Directory record length for a name and system-use size. */
export function dirRecordLength(nameLen: number, suLen: number): number {
  return 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0) + suLen;
}

/** 7-byte recording date (directory records, TF short form). */
export function decodeShortDate(b: Uint8Array, off = 0): Date | undefined {
  const y = b[off]!, mo = b[off + 1]!, d = b[off + 2]!, h = b[off + 3]!, mi = b[off + 4]!, s = b[off + 5]!;
  if (y === 0 && mo === 0 && d === 0) return undefined;
  const tz = (b[off + 6]! << 24) >> 24; // signed, 15-minute units
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const t = Date.UTC(1900 + y, mo - 1, d, h, mi, s) - (tz >= -48 && tz <= 52 ? tz : 0) * 15 * 60_000;
  return new Date(t);
}

export function encodeShortDate(t: Date, out = new Uint8Array(7), off = 0): Uint8Array {
  let y = t.getUTCFullYear() - 1900;
  if (y < 0) y = 0;
  if (y > 255) y = 255;
  out[off] = y;
  out[off + 1] = t.getUTCMonth() + 1;
  out[off + 2] = t.getUTCDate();
  out[off + 3] = t.getUTCHours();
  out[off + 4] = t.getUTCMinutes();
  out[off + 5] = t.getUTCSeconds();
  out[off + 6] = 0;
  return out;
}

/** 17-byte volume descriptor date ("YYYYMMDDHHMMSScc" + tz). */
export function decodeLongDate(b: Uint8Array, off = 0): Date | undefined {
  let s = '';
  for (let i = 0; i < 16; i++) s += String.fromCharCode(b[off + i]!);
  if (!/^\d{16}$/.test(s) || /^0+$/.test(s)) return undefined;
  const tz = (b[off + 16]! << 24) >> 24;
  const n = (a: number, l: number) => Number(s.slice(a, a + l));
  const mo = n(4, 2), d = n(6, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  const t = Date.UTC(n(0, 4), mo - 1, d, n(8, 2), n(10, 2), n(12, 2), n(14, 2) * 10) - (tz >= -48 && tz <= 52 ? tz : 0) * 15 * 60_000;
  return new Date(t);
}

export function encodeLongDate(t: Date | undefined): Uint8Array {
  const out = new Uint8Array(17);
  if (!t) {
    out.fill(0x30, 0, 16);
    return out;
  }
  const p = (v: number, l: number) => String(v).padStart(l, '0');
  const s = p(t.getUTCFullYear(), 4) + p(t.getUTCMonth() + 1, 2) + p(t.getUTCDate(), 2) + p(t.getUTCHours(), 2) +
    p(t.getUTCMinutes(), 2) + p(t.getUTCSeconds(), 2) + p(Math.floor(t.getUTCMilliseconds() / 10), 2);
  for (let i = 0; i < 16; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** One path table record. */
export interface PathTableEntry {
  extent: number;
  parent: number;
  name: Uint8Array;
  extAttrLength: number;
  /** Byte offset inside the table. */
  offset: number;
}

/** Decode a whole L (little-endian) or M (big-endian) path table. */
export function parsePathTable(b: Uint8Array, bigEndian: boolean, fileOffset: number): PathTableEntry[] {
  const out: PathTableEntry[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  while (p + 8 <= b.length) {
    const len = b[p]!;
    if (len === 0) break;
    if (p + 8 + len > b.length) throw new CorruptImageError('path table record', fileOffset + p, `identifier within the table`, `${len} bytes`);
    out.push({
      extAttrLength: b[p + 1]!,
      extent: v.getUint32(p + 2, !bigEndian),
      parent: v.getUint16(p + 6, !bigEndian),
      name: b.subarray(p + 8, p + 8 + len),
      offset: p,
    });
    p += 8 + len + (len & 1);
  }
  return out;
}

export function encodePathTable(entries: { extent: number; parent: number; name: Uint8Array }[], bigEndian: boolean): Uint8Array {
  let size = 0;
  for (const e of entries) size += 8 + e.name.length + (e.name.length & 1);
  const w = new ByteWriter(size);
  let p = 0;
  for (const e of entries) {
    w.u8(p, e.name.length).u8(p + 1, 0);
    if (bigEndian) w.u32be(p + 2, e.extent).u16be(p + 6, e.parent);
    else w.u32le(p + 2, e.extent).u16le(p + 6, e.parent);
    w.bytesAt(p + 8, e.name);
    p += 8 + e.name.length + (e.name.length & 1);
  }
  return w.bytes;
}

/** Decode identifier text: a-/d-characters padded with spaces. */
export function aString(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s.replace(/[\0 ]+$/, '');
}

/** UCS-2 big-endian text; `pad` strips trailing spaces/NULs (descriptor fields, not file names). */
export function ucs2String(b: Uint8Array, pad = true): string {
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return pad ? s.replace(/[\0 ]+$/, '') : s;
}

export function encodeUcs2(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i * 2] = c >> 8;
    out[i * 2 + 1] = c & 0xff;
  }
  return out;
}

/** Joliet escape sequences (UCS-2 levels 1–3) in a supplementary descriptor. */
export function jolietLevel(escapes: Uint8Array): number {
  if (escapes[0] !== 0x25 || escapes[1] !== 0x2f) return 0;
  switch (escapes[2]) {
    case 0x40: return 1;
    case 0x43: return 2;
    case 0x45: return 3;
    default: return 0;
  }
}
