/**
 * File-system tree records (j_*_key_t / j_*_val_t): inodes, directory entries, file extents,
 * extended attributes. Keys sort by object id, then record type, then a type-specific part.
 */
import { CorruptImageError, crc32c } from '@diskit/core';
import type { KeyRange } from './btree.js';
import { u64, view } from './object.js';

export const J_SNAP_METADATA = 1;
export const J_EXTENT = 2;
export const J_INODE = 3;
export const J_XATTR = 4;
export const J_SIBLING_LINK = 5;
export const J_DSTREAM_ID = 6;
export const J_FILE_EXTENT = 8;
export const J_DIR_REC = 9;
export const J_SNAP_NAME = 11;

export const ROOT_DIR_INO = 2;
export const OBJ_ID_MAX = 0x0fffffffffffffff;

const INO_EXT_TYPE_NAME = 4;
const INO_EXT_TYPE_DSTREAM = 8;
const INO_EXT_TYPE_SPARSE_BYTES = 13;
const INO_EXT_TYPE_RDEV = 14;
const DREC_EXT_TYPE_SIBLING_ID = 1;

export const XATTR_DATA_STREAM = 0x1;
export const XATTR_DATA_EMBEDDED = 0x2;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Object id (60 bits; ids past 2^53 keep their order as doubles) and record type of a key. */
export function keyHeader(key: Uint8Array): { id: number; type: number } {
  return { id: keyId(key), type: key[7]! >>> 4 };
}

/** The 60-bit object id of a key (read byte by byte: this runs for every key compared). */
function keyId(k: Uint8Array): number {
  const lo = (k[0]! | (k[1]! << 8) | (k[2]! << 16) | (k[3]! << 24)) >>> 0;
  const hi = (k[4]! | (k[5]! << 8) | (k[6]! << 16) | ((k[7]! & 0x0f) << 24)) >>> 0;
  return hi * 0x100000000 + lo;
}

/** The range of every record of object `id` with type `type`. */
export function recordsOf(id: number, type: number): KeyRange {
  return (key) => {
    if (key.length < 8) return -1;
    const kid = keyId(key);
    if (kid !== id) return kid < id ? -1 : 1;
    const t = key[7]! >>> 4;
    return t === type ? 0 : t < type ? -1 : 1;
  };
}

/** Nanoseconds since 1970 (a u64) as a Date; precision past the millisecond is dropped. */
export function nsDate(dv: DataView, at: number): Date {
  return new Date(Math.floor((dv.getUint32(at + 4, true) * 0x100000000 + dv.getUint32(at, true)) / 1e6));
}

interface XField {
  type: number;
  data: Uint8Array;
}

/** An xf_blob_t: a count, the field headers, then each field's data padded to 8 bytes. */
function parseXFields(b: Uint8Array, at: number, where: number): XField[] {
  if (b.length < at + 4) return [];
  const dv = view(b);
  const num = dv.getUint16(at, true);
  const used = dv.getUint16(at + 2, true);
  let data = at + 4 + num * 4;
  if (data + used > b.length) throw new CorruptImageError('extended fields', where, `${num} fields in ${b.length - at} bytes`, `${used} bytes of data`);
  const out: XField[] = [];
  for (let i = 0; i < num; i++) {
    const type = b[at + 4 + i * 4]!;
    const size = dv.getUint16(at + 4 + i * 4 + 2, true);
    if (data + size > b.length) throw new CorruptImageError('extended field', where, `a field inside the record (${b.length} bytes)`, `${size} bytes at ${data}`);
    out.push({ type, data: b.subarray(data, data + size) });
    data += (size + 7) & ~7;
  }
  return out;
}

export interface Inode {
  id: number;
  parentId: number;
  /** The data stream's id (the key of its file extents). */
  privateId: number;
  birthtime: Date;
  mtime: Date;
  ctime: Date;
  atime: Date;
  internalFlags: number;
  /** Children of a directory, links of a file. */
  nchildrenOrNlink: number;
  bsdFlags: number;
  uid: number;
  gid: number;
  mode: number;
  name?: string;
  size: number;
  allocatedSize: number;
  sparseBytes: number;
  rdev?: number;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const UF_COMPRESSED = 0x20;

export function parseInode(id: number, v: Uint8Array, where: number): Inode {
  if (v.length < 92) throw new CorruptImageError('inode record', where, 'at least 92 bytes', String(v.length));
  const dv = view(v);
  const ino: Inode = {
    id,
    parentId: u64(dv, 0, 'inode parent', where),
    privateId: u64(dv, 8, 'inode data stream id', where),
    birthtime: nsDate(dv, 16),
    mtime: nsDate(dv, 24),
    ctime: nsDate(dv, 32),
    atime: nsDate(dv, 40),
    internalFlags: dv.getUint32(48, true),
    nchildrenOrNlink: dv.getInt32(56, true),
    bsdFlags: dv.getUint32(68, true),
    uid: dv.getUint32(72, true),
    gid: dv.getUint32(76, true),
    mode: dv.getUint16(80, true),
    size: 0,
    allocatedSize: 0,
    sparseBytes: 0,
  };
  for (const f of parseXFields(v, 92, where)) {
    const fv = view(f.data);
    if (f.type === INO_EXT_TYPE_NAME) ino.name = utf8.decode(f.data.subarray(0, Math.max(0, f.data.indexOf(0) < 0 ? f.data.length : f.data.indexOf(0))));
    else if (f.type === INO_EXT_TYPE_DSTREAM && f.data.length >= 16) {
      ino.size = u64(fv, 0, 'data stream size', where);
      ino.allocatedSize = u64(fv, 8, 'data stream allocated size', where);
    } else if (f.type === INO_EXT_TYPE_SPARSE_BYTES && f.data.length >= 8) ino.sparseBytes = u64(fv, 0, 'sparse byte count', where);
    else if (f.type === INO_EXT_TYPE_RDEV && f.data.length >= 4) ino.rdev = fv.getUint32(0, true);
  }
  return ino;
}

export interface DirRecord {
  name: string;
  fileId: number;
  /** DT_* type from the record's flags (4 directory, 8 regular, 10 symlink…). */
  dtype: number;
  siblingId?: number;
}

/** A directory entry: hashed keys (u32 length+hash) or plain keys (u16 length), as the volume says. */
export function parseDirRecord(key: Uint8Array, val: Uint8Array | undefined, hashed: boolean, where: number): DirRecord {
  const kv = view(key);
  let nameStart: number, nameLen: number;
  if (hashed) {
    if (key.length < 12) throw new CorruptImageError('directory record key', where, 'at least 12 bytes', String(key.length));
    nameLen = kv.getUint32(8, true) & 0x3ff;
    nameStart = 12;
  } else {
    if (key.length < 10) throw new CorruptImageError('directory record key', where, 'at least 10 bytes', String(key.length));
    nameLen = kv.getUint16(8, true);
    nameStart = 10;
  }
  if (nameLen < 1 || nameStart + nameLen > key.length) throw new CorruptImageError('directory record key', where, `a name inside the key (${key.length - nameStart} bytes)`, `length ${nameLen}`);
  let nb = key.subarray(nameStart, nameStart + nameLen);
  if (nb[nb.length - 1] === 0) nb = nb.subarray(0, nb.length - 1);
  if (!val || val.length < 18) throw new CorruptImageError('directory record', where, 'a value of at least 18 bytes', String(val?.length ?? 0));
  const dv = view(val);
  const rec: DirRecord = {
    name: utf8.decode(nb),
    fileId: u64(dv, 0, 'directory record file id', where),
    dtype: dv.getUint16(16, true) & 0xf,
  };
  for (const f of parseXFields(val, 18, where)) {
    if (f.type === DREC_EXT_TYPE_SIBLING_ID && f.data.length >= 8) rec.siblingId = u64(view(f.data), 0, 'sibling id', where);
  }
  return rec;
}

/**
 * The 22-bit hash of a hashed directory key: CRC-32C over the name as UTF-32LE code points after
 * NFD (and case folding on case-insensitive volumes), inverted. Lookups fold case with
 * toLowerCase(), close to but not exactly Unicode case folding, so a miss falls back to a scan.
 */
export function nameHash(folded: string): number {
  const cps = Array.from(folded, (c) => c.codePointAt(0)!);
  const u = new Uint8Array(cps.length * 4);
  const dv = view(u);
  cps.forEach((c, i) => dv.setUint32(i * 4, c, true));
  return (~crc32c(u) >>> 0) & 0x3fffff;
}

export interface FileExtent {
  logical: number;
  length: number;
  /** First block, or 0 for a hole. */
  phys: number;
  cryptoId: number;
}

export function parseFileExtent(key: Uint8Array, val: Uint8Array | undefined, where: number): FileExtent {
  if (key.length < 16 || !val || val.length < 24) throw new CorruptImageError('file extent record', where, '16-byte key and 24-byte value', `${key.length} and ${val?.length ?? 0}`);
  const dv = view(val);
  const lenLo = dv.getUint32(0, true);
  const lenHi = dv.getUint32(4, true) & 0x00ffffff;
  return {
    logical: u64(view(key), 8, 'file extent offset', where),
    length: lenHi * 0x100000000 + lenLo,
    phys: u64(dv, 8, 'file extent block', where),
    cryptoId: Number(dv.getBigUint64(16, true) & 0xffffffffn),
  };
}

export interface Xattr {
  name: string;
  flags: number;
  /** Embedded data. */
  data?: Uint8Array;
  /** Or a data stream: its id and size. */
  stream?: { id: number; size: number };
}

export function parseXattr(key: Uint8Array, val: Uint8Array | undefined, where: number): Xattr {
  if (key.length < 10) throw new CorruptImageError('extended attribute key', where, 'at least 10 bytes', String(key.length));
  const nameLen = view(key).getUint16(8, true);
  if (nameLen < 1 || 10 + nameLen > key.length) throw new CorruptImageError('extended attribute key', where, `a name inside the key`, `length ${nameLen}`);
  let nb = key.subarray(10, 10 + nameLen);
  if (nb[nb.length - 1] === 0) nb = nb.subarray(0, nb.length - 1);
  if (!val || val.length < 4) throw new CorruptImageError('extended attribute', where, 'a value of at least 4 bytes', String(val?.length ?? 0));
  const dv = view(val);
  const flags = dv.getUint16(0, true);
  const len = dv.getUint16(2, true);
  if (4 + len > val.length) throw new CorruptImageError('extended attribute', where, `${len} bytes of data inside the value`, `${val.length - 4}`);
  const x: Xattr = { name: utf8.decode(nb), flags };
  const data = val.subarray(4, 4 + len);
  if (flags & XATTR_DATA_STREAM) {
    if (len < 16) throw new CorruptImageError('extended attribute stream', where, 'a 48-byte stream reference', `${len} bytes`);
    const sv = view(data);
    x.stream = { id: u64(sv, 0, 'attribute stream id', where), size: u64(sv, 8, 'attribute stream size', where) };
  } else x.data = data;
  return x;
}

/** The key for one xattr name: the scan still covers all of a file's xattrs, filtered by name. */
export function xattrName(key: Uint8Array): string {
  const n = view(key).getUint16(8, true);
  let nb = key.subarray(10, Math.min(key.length, 10 + n));
  if (nb[nb.length - 1] === 0) nb = nb.subarray(0, nb.length - 1);
  return utf8.decode(nb);
}
