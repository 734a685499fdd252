/**
 * The attributes B-tree: extended attributes keyed by (fileID, name, start block). Small values
 * are inline records; large ones are forks of their own (with extents records for the ninth and
 * later extents, in the same tree).
 */
import { CorruptImageError } from '@diskit/core';
import type { BTree } from './btree.js';
import { unitsOf, utf16be } from './catalog.js';
import { compareBinary } from './casefold.js';
import { parseForkData, type ExtentDescriptor, type ForkData } from './volume-header.js';
import { MAX_EXTENTS } from './fork.js';
import { inlineExtents } from './extents.js';

export const ATTR_INLINE = 0x10;
export const ATTR_FORK = 0x20;
export const ATTR_EXTENTS = 0x30;

export interface Attribute {
  name: string;
  size: number;
  /** Inline value. */
  data?: Uint8Array;
  /** A value stored as a fork. */
  fork?: ForkData;
  where: number;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function keyParts(k: Uint8Array, where: number): { fileID: number; startBlock: number; nameLength: number } {
  if (k.length < 14) throw new CorruptImageError('HFS+ attribute key', where, 'a key of at least 14 bytes', `${k.length} bytes`);
  const nameLength = (k[12]! << 8) | k[13]!;
  if (14 + 2 * nameLength > k.length) throw new CorruptImageError('HFS+ attribute key', where, 'a name inside the key', `${nameLength} units`);
  return { fileID: u32(k, 4), startBlock: u32(k, 8), nameLength };
}

/** Attribute keys order by file, then name (binary), then start block. */
function comparator(fileID: number, name: string, startBlock: number): (k: Uint8Array) => number {
  const units = unitsOf(name);
  return (k) => {
    const p = keyParts(k, 0);
    if (p.fileID !== fileID) return p.fileID < fileID ? -1 : 1;
    const c = compareBinary(k, 14, p.nameLength, units);
    if (c !== 0) return c;
    return p.startBlock === startBlock ? 0 : p.startBlock < startBlock ? -1 : 1;
  };
}

/** At most this many attributes of one file are listed (a cap against hostile trees). */
const MAX_ATTRIBUTES = 65536;

/** Every extended attribute of a file, in name order. */
export async function listAttributes(tree: BTree | undefined, fileID: number): Promise<Attribute[]> {
  if (!tree || tree.empty) return [];
  const out: Attribute[] = [];
  const records = tree.scan(comparator(fileID, '', 0), (k) => keyParts(k, 0).fileID === fileID);
  for await (const r of records) {
    const p = keyParts(r.key, r.where);
    const type = r.data.length >= 4 ? u32(r.data, 0) : -1;
    if (type === ATTR_EXTENTS) continue;
    const name = utf16be(r.key, 14, p.nameLength);
    if (type === ATTR_INLINE) {
      if (r.data.length < 16) throw new CorruptImageError('HFS+ inline attribute', r.where, 'a 16-byte record header', `${r.data.length} bytes`);
      const size = u32(r.data, 12);
      if (16 + size > r.data.length) throw new CorruptImageError('HFS+ inline attribute', r.where + 12, `a value inside the record (${r.data.length - 16} bytes)`, `${size} bytes`);
      out.push({ name, size, data: r.data.subarray(16, 16 + size), where: r.where });
    } else if (type === ATTR_FORK) {
      if (r.data.length < 88) throw new CorruptImageError('HFS+ fork attribute', r.where, 'an 88-byte record', `${r.data.length} bytes`);
      const fork = parseForkData(r.data, 8, r.where + 8);
      out.push({ name, size: fork.logicalSize, fork, where: r.where });
    } else {
      throw new CorruptImageError('HFS+ attribute record', r.where, 'record type 0x10, 0x20 or 0x30', String(type));
    }
    if (out.length > MAX_ATTRIBUTES) throw new CorruptImageError('HFS+ attributes B-tree', r.where, `at most ${MAX_ATTRIBUTES} attributes per file`, 'more');
  }
  return out;
}

/** A fork attribute's extents: the eight in its record, then its extents records. */
export async function attributeExtents(tree: BTree, fileID: number, a: Attribute): Promise<ExtentDescriptor[]> {
  const fork = a.fork!;
  const out = inlineExtents(fork);
  let blocks = out.reduce((n, e) => n + e.blockCount, 0);
  while (blocks < fork.totalBlocks) {
    if (out.length >= MAX_EXTENTS) throw new CorruptImageError('HFS+ attribute extents', a.where, `at most ${MAX_EXTENTS} extents`, 'more');
    const cmp = comparator(fileID, a.name, blocks);
    const at = await tree.seek(cmp);
    const rec = at && tree.record(at.node, at.index);
    if (!at || !rec || cmp(rec.key) !== 0 || rec.data.length < 72 || u32(rec.data, 0) !== ATTR_EXTENTS) {
      throw new CorruptImageError('HFS+ attribute extents', a.where, `an extents record for ${JSON.stringify(a.name)} from block ${blocks}`, 'none');
    }
    const before = blocks;
    for (let i = 0; i < 8; i++) {
      const e = { startBlock: u32(rec.data, 8 + i * 8), blockCount: u32(rec.data, 12 + i * 8) };
      if (e.blockCount === 0) break;
      out.push(e);
      blocks += e.blockCount;
    }
    if (blocks === before) throw new CorruptImageError('HFS+ attribute extents', a.where, 'at least one extent', 'none');
  }
  return out;
}
