/**
 * Writing the planned image's metadata: volume descriptors, boot record, path tables, directories
 * and continuation areas, as (offset, bytes) pieces in increasing order. File data is the caller's.
 */
import {
  SECTOR, encodeDirRecord, encodeShortDate, encodeLongDate, encodeVolumeDescriptor, encodePathTable, encodeUcs2,
  FLAG_DIRECTORY, FLAG_MULTI_EXTENT, type RawVolumeDescriptor,
} from '../structs.js';
import { asciiBytes, pad, padUcs2 } from './names.js';
import { areaBytes, concat, rrEntries, suInlineBytes, type SuLayout } from './rock-ridge.js';
import type { DirRecords, RecordPlan, Tree } from './records.js';
import { MAX_EXTENT, type BuildNode, type IsoBuildOptions } from './tree.js';

export interface PathTableEntries {
  entries: { name: Uint8Array; extent: number; parent: number }[];
  /** Bytes of one copy. */
  size: number;
  /** LBAs of the little- and big-endian copies. */
  l: number;
  m: number;
}

/** Everything the planner decided, for the writer. */
export interface IsoLayout {
  opts: IsoBuildOptions;
  volumeId: string;
  now: Date;
  records: DirRecords;
  totalBlocks: number;
  pvdLba: number;
  /** 0 when there is no such descriptor. */
  bootVdLba: number;
  svdLba: number;
  termLba: number;
  catalog?: { lba: number; bytes: Uint8Array };
  iso: { dirs: BuildNode[]; pathTable: PathTableEntries };
  jol?: { dirs: BuildNode[]; pathTable: PathTableEntries };
  /** Continuation areas: the first block and the areas placed from it. */
  ce?: { start: number; spilled: SuLayout[] };
}

const DOT = Uint8Array.of(0);
const DOTDOT = Uint8Array.of(1);

function recordName(r: RecordPlan): Uint8Array {
  if (r.kind === 0) return DOT;
  if (r.kind === 1) return DOTDOT;
  return r.tree === 'iso' ? asciiBytes(r.name!) : encodeUcs2(r.name!);
}

const dirLayout = (n: BuildNode, tree: Tree) => (tree === 'iso' ? n.isoDir! : n.jolDir!);

function recordBytes(L: IsoLayout, r: RecordPlan, tree: Tree): Uint8Array {
  const { clamp, suspSkip } = L.records;
  const n = r.node;
  let extent: number, size: number, flags = 0;
  if (r.kind !== 2 || n.type === 'directory') {
    const dl = dirLayout(n, tree);
    extent = dl.lba;
    size = dl.size;
    flags = FLAG_DIRECTORY;
  } else if (n.type === 'file') {
    extent = n.dataLba! + (r.part * MAX_EXTENT) / SECTOR;
    size = r.part + 1 < r.parts ? MAX_EXTENT : n.size - r.part * MAX_EXTENT;
    if (r.part + 1 < r.parts) flags |= FLAG_MULTI_EXTENT;
    if (size === 0) extent = 0;
  } else {
    extent = 0;
    size = 0;
  }
  return encodeDirRecord(
    { extAttrLength: 0, extent, dataLength: size, date: encodeShortDate(clamp(n.mtime)), flags, unitSize: 0, gapSize: 0, volumeSequenceNumber: 1 },
    recordName(r),
    r.su ? suInlineBytes(r.su) : r.suLen ? concat(rrEntries(n, r.kind, r.rootDot === true, clamp, suspSkip)) : undefined,
  );
}

function dirBytes(L: IsoLayout, d: BuildNode, tree: Tree): Uint8Array {
  const out = new Uint8Array(dirLayout(d, tree).size);
  for (const r of L.records.positioned(d, tree)) if (r.part !== -1) out.set(recordBytes(L, r, tree), r.pos);
  return out;
}

function rootRecord(L: IsoLayout, tree: Tree): Uint8Array {
  const root = L.records.root;
  const dl = dirLayout(root, tree);
  return encodeDirRecord({ extAttrLength: 0, extent: dl.lba, dataLength: dl.size, date: encodeShortDate(L.records.clamp(root.mtime)), flags: FLAG_DIRECTORY, unitSize: 0, gapSize: 0, volumeSequenceNumber: 1 }, Uint8Array.of(0));
}

/** The primary (ISO9660) or supplementary (Joliet) volume descriptor. */
function volumeDescriptor(L: IsoLayout, tree: Tree): Uint8Array {
  const { opts, now } = L;
  const j = tree === 'jol';
  const pt = j ? L.jol!.pathTable : L.iso.pathTable;
  const text = j ? padUcs2 : pad;
  const d: RawVolumeDescriptor = {
    type: j ? 2 : 1, id: 'CD001', version: 1, flags: 0,
    systemId: text(opts.systemId ?? '', 32), volumeId: j ? padUcs2(L.volumeId, 32) : pad(L.volumeId, 32),
    volumeSpaceSize: L.totalBlocks, escapes: j ? Uint8Array.of(0x25, 0x2f, 0x45, ...new Uint8Array(29)) : new Uint8Array(32),
    volumeSetSize: 1, volumeSequenceNumber: 1, logicalBlockSize: SECTOR,
    pathTableSize: pt.size, lPathTable: pt.l, optLPathTable: 0, mPathTable: pt.m, optMPathTable: 0,
    rootRecord: rootRecord(L, tree), volumeSetId: text('', 128), publisherId: text(opts.publisherId ?? '', 128),
    preparerId: text(opts.preparerId ?? '', 128), applicationId: text(opts.applicationId ?? 'DISKIT', 128),
    copyrightFileId: text('', 37).subarray(0, 37), abstractFileId: text('', 37).subarray(0, 37), bibliographicFileId: text('', 37).subarray(0, 37),
    creationDate: encodeLongDate(now), modificationDate: encodeLongDate(now), expirationDate: encodeLongDate(undefined), effectiveDate: encodeLongDate(undefined),
    fileStructureVersion: 1,
  };
  if (j) {
    // 37-byte UCS-2 fields: pad to an odd length with a final 0x00? Use spaces in UCS-2 and a trailing 0.
    for (const k of ['copyrightFileId', 'abstractFileId', 'bibliographicFileId'] as const) {
      const b = padUcs2('', 38).subarray(0, 37);
      b[36] = 0;
      d[k] = b;
    }
  }
  return encodeVolumeDescriptor(d);
}

/** A descriptor of type `type` holding only 'CD001' and version 1 (the terminator, the start of the boot record). */
function bareDescriptor(type: number): Uint8Array {
  const b = new Uint8Array(SECTOR);
  b[0] = type;
  b.set(new TextEncoder().encode('CD001'), 1);
  b[6] = 1;
  return b;
}

export function* metadataOf(L: IsoLayout): Generator<{ offset: number; bytes: Uint8Array }> {
  yield { offset: L.pvdLba * SECTOR, bytes: volumeDescriptor(L, 'iso') };
  if (L.catalog) {
    const b = bareDescriptor(0);
    b.set(new TextEncoder().encode('EL TORITO SPECIFICATION'), 7);
    new DataView(b.buffer).setUint32(71, L.catalog.lba, true);
    yield { offset: L.bootVdLba * SECTOR, bytes: b };
  }
  if (L.jol) yield { offset: L.svdLba * SECTOR, bytes: volumeDescriptor(L, 'jol') };
  yield { offset: L.termLba * SECTOR, bytes: bareDescriptor(255) };
  if (L.catalog) yield { offset: L.catalog.lba * SECTOR, bytes: L.catalog.bytes };
  for (const t of L.jol ? [L.iso, L.jol] : [L.iso]) {
    yield { offset: t.pathTable.l * SECTOR, bytes: encodePathTable(t.pathTable.entries, false) };
    yield { offset: t.pathTable.m * SECTOR, bytes: encodePathTable(t.pathTable.entries, true) };
  }
  for (const d of L.iso.dirs) yield { offset: d.isoDir!.lba * SECTOR, bytes: dirBytes(L, d, 'iso') };
  for (const d of L.jol?.dirs ?? []) yield { offset: d.jolDir!.lba * SECTOR, bytes: dirBytes(L, d, 'jol') };
  if (L.ce) {
    // continuation areas, one block at a time
    let cur = new Uint8Array(SECTOR);
    let curBlock = L.ce.start;
    for (const su of L.ce.spilled) {
      for (let i = 0; i < su.areas.length; i++) {
        const a = su.addrs[i]!;
        if (a.block !== curBlock) {
          yield { offset: curBlock * SECTOR, bytes: cur };
          cur = new Uint8Array(SECTOR);
          curBlock = a.block;
        }
        cur.set(areaBytes(su, i), a.offset);
      }
    }
    yield { offset: curBlock * SECTOR, bytes: cur };
  }
}
