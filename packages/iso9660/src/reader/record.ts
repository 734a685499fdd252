/** Directory records as nodes: names (ISO9660, Joliet, Rock Ridge), types, and where the data lies. */
import { CorruptImageError, UnsupportedFeatureError, type BlockDevice, type EntryType, type MappedRun } from '@diskit/core';
import {
  SECTOR, parseDirRecord, decodeShortDate, ucs2String, FLAG_DIRECTORY, FLAG_HIDDEN, type RawVolumeDescriptor, type RawDirRecord,
} from '../structs.js';
import { decodeName, type RockRidge } from '../susp.js';

export interface Node {
  name: string;
  type: EntryType;
  size: number;
  /** The file's data: (file offset `at`, image offset `from`, length) runs, for core's MappedDevice. */
  runs: MappedRun[];
  /** Directory extent (byte offset, size). */
  dir?: { offset: number; size: number };
  mtime?: Date;
  rr?: RockRidge;
  hidden?: boolean;
  recordOffset: number;
}

export function isBadName(n: string): boolean {
  return n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0');
}

export function checkExtent(dev: BlockDevice, what: string, recOffset: number, offset: number, length: number): void {
  if (offset + length > dev.size) {
    throw new CorruptImageError(what, recOffset, `an extent inside the volume (size ${dev.size})`, `bytes [${offset}, ${offset + length})`);
  }
}

/** The root directory from a volume descriptor's root record (at `recOffset` in the image). */
export function rootNode(dev: BlockDevice, vd: RawVolumeDescriptor, recOffset: number): Node {
  const r = parseDirRecord(vd.rootRecord);
  if (r.length < 34 || !(r.flags & FLAG_DIRECTORY)) {
    throw new CorruptImageError('root directory record', recOffset, 'a directory record of 34 bytes', `length ${r.length}, flags ${r.flags}`);
  }
  const offset = (r.extent + r.extAttrLength) * SECTOR;
  checkExtent(dev, 'root directory', recOffset, offset, r.dataLength);
  return { name: '', type: 'directory', size: r.dataLength, runs: [], dir: { offset, size: r.dataLength }, mtime: decodeShortDate(r.date), recordOffset: recOffset };
}

/** The record's own identifier (Joliet or ISO9660), without its version. */
export function isoName(r: RawDirRecord, nameBytes: Uint8Array, joliet: boolean): string {
  const isDir = (r.flags & FLAG_DIRECTORY) !== 0;
  if (joliet) return ucs2String(nameBytes, false).replace(/;\d*$/, '');
  // ISO 9660:1999 (level 4) names may hold any bytes: UTF-8 when they decode as such, else Latin-1.
  const name = decodeName(nameBytes);
  return isDir ? name : name.replace(/;\d*$/, '').replace(/\.$/, '');
}

/** A record as a node: `name` is its Rock Ridge name or its own identifier. */
export function buildNode(dev: BlockDevice, r: RawDirRecord, name: string, recOff: number, rr: RockRidge | undefined): Node {
  const isDir = (r.flags & FLAG_DIRECTORY) !== 0;
  const dataOffset = (r.extent + r.extAttrLength) * SECTOR;
  const node: Node = { name, type: isDir ? 'directory' : 'file', size: r.dataLength, runs: [], rr, hidden: (r.flags & FLAG_HIDDEN) !== 0, recordOffset: recOff, mtime: rr?.mtime ?? decodeShortDate(r.date) };
  if (isDir) {
    node.dir = { offset: dataOffset, size: r.dataLength };
    return node;
  }
  if (r.unitSize || r.gapSize) {
    // Interleaved: file units of unitSize blocks separated by gaps of gapSize blocks.
    if (!r.unitSize) throw new CorruptImageError('directory record', recOff, 'a non-zero file unit size with an interleave gap', '0');
    let left = r.dataLength;
    let fo = 0;
    let from = dataOffset;
    if (r.dataLength / (r.unitSize * SECTOR) > 65536) throw new UnsupportedFeatureError(`interleaved file at ${recOff} with more than 65536 file units`);
    while (left > 0) {
      const l = Math.min(left, r.unitSize * SECTOR);
      node.runs.push({ at: fo, from, length: l });
      fo += l;
      left -= l;
      from += (r.unitSize + r.gapSize) * SECTOR;
    }
  } else if (r.dataLength > 0) node.runs.push({ at: 0, from: dataOffset, length: r.dataLength });
  const last = node.runs[node.runs.length - 1];
  if (last && last.from! + last.length > dev.size) {
    throw new CorruptImageError('directory record', recOff, `file data inside the volume (size ${dev.size})`, `bytes [${node.runs[0]!.from}, ${last.from! + last.length})`);
  }
  if (rr?.mode !== undefined) {
    const fmt = rr.mode & 0o170000;
    if (fmt === 0o120000) node.type = 'symlink';
    else if (fmt !== 0o100000 && fmt !== 0 && fmt !== 0o040000) node.type = 'other';
  }
  if (rr?.target !== undefined && node.type === 'file') node.type = 'symlink';
  return node;
}
