/**
 * The isomorphic half of the ISO builder: names, directory and path-table layout, Rock Ridge system
 * use areas, descriptors. The Node entry (node.ts) scans a folder into BuildNodes and streams file data.
 */
import { UsageError } from '@diskit/core';
import {
  SECTOR, encodeDirRecord, dirRecordLength, encodeShortDate, encodeLongDate, encodeVolumeDescriptor, encodePathTable, encodeUcs2,
  FLAG_DIRECTORY, FLAG_MULTI_EXTENT, type RawVolumeDescriptor,
} from './structs.js';
import { encodeSP, encodeCE, encodePX, encodePN, encodeTF, encodeER, encodeNM, encodeSL } from './susp.js';
import { encodeBootCatalog } from './eltorito.js';

/** Largest extent a single directory record can describe (4 GiB − 2048, sector aligned). */
export const MAX_EXTENT = 0xfffff800;
const MAX_DIRS = 65535;
const MAX_BLOCKS = 0xffffffff;

export interface BuildNode {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  rdev?: number;
  /** Hard links: files with the same key share one copy of their data. */
  linkKey?: string;
  subdirs?: number;
  target?: string;
  children?: BuildNode[];
  /** Where the data comes from (host path), or literal bytes (boot catalog). */
  source?: string;
  bytes?: Uint8Array;
  // ---- layout (filled by planIso)
  parent?: BuildNode;
  isoName?: string;
  jolName?: string;
  dataLba?: number;
  isoDir?: DirLayout;
  jolDir?: DirLayout;
}

interface SuLayout {
  inline: Uint8Array[];
  areas: Uint8Array[][];
  /** Assigned addresses of each continuation area. */
  addrs: { block: number; offset: number; length: number }[];
}

interface RecordPlan {
  node: BuildNode;
  /** 0 = '.', 1 = '..', 2 = child */
  kind: 0 | 1 | 2;
  /** Identifier length in bytes (the bytes are made when the record is written). */
  nameLen: number;
  name?: string;
  tree: 'iso' | 'jol';
  /** Rock Ridge entries that spill into continuation areas (kept); inline-only ones are re-encoded when written. */
  su?: SuLayout;
  suLen?: number;
  rootDot?: boolean;
  /** Offset of this record inside the directory extent. */
  pos: number;
  /** Which extent of a multi-extent file (index), how many. */
  part: number;
  parts: number;
}

export interface DirLayout {
  lba: number;
  size: number;
  number: number;
}

export interface IsoBuildOptions {
  volumeId?: string;
  joliet?: boolean;
  rockRidge?: boolean;
  /** BIOS boot image: a path inside the tree ('/'-separated, relative to the root). */
  boot?: string;
  bootCatalog?: string;
  noEmulBoot?: boolean;
  bootLoadSize?: number;
  bootInfoTable?: boolean;
  /** EFI boot image (a FAT image) inside the tree. */
  efiBoot?: string;
  /** Seconds since 1970: all times clamped to it, volume dates set to it (default SOURCE_DATE_EPOCH, else now). */
  sourceDateEpoch?: number;
  /** SUSP skip length (SP len_skp): bytes left free before each system use area. For tests; default 0. */
  suspSkip?: number;
  publisherId?: string;
  preparerId?: string;
  applicationId?: string;
  systemId?: string;
}

export interface IsoPlan {
  totalBlocks: number;
  files: BuildNode[];
  /** Metadata blocks: (offset, bytes) pieces in increasing order. */
  metadata(): Generator<{ offset: number; bytes: Uint8Array }>;
  /** Boot info table patches: node → bytes to place at offset 8 of its data. */
  bootPatches: Map<BuildNode, (data: Uint8Array) => void>;
  bootEntries: { platform: string; lba: number; sectorCount: number }[];
}

function dchars(s: string, max: number): string {
  let out = '';
  for (let i = 0; i < s.length && out.length < max; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c >= 0xd800 && c <= 0xdbff) i++; // one '_' per astral character
    out += (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f ? String.fromCharCode(c) : '_';
  }
  return out;
}

/** ISO9660 level 3 names: d-characters, 30 characters plus ';1' for files, 31 for directories. */
function isoNames(kids: BuildNode[]): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  const next = new Map<string, number>();
  for (const k of kids) {
    let base: string, ext: string;
    if (k.type === 'directory') {
      base = dchars(k.name, 31) || '_';
      ext = '';
    } else {
      const dot = k.name.lastIndexOf('.');
      const rawBase = dot > 0 ? k.name.slice(0, dot) : k.name;
      const rawExt = dot > 0 ? k.name.slice(dot + 1) : '';
      ext = dchars(rawExt, 8);
      base = dchars(rawBase, 30 - ext.length) || '_';
    }
    const key = (b: string) => (k.type === 'directory' ? b : `${b}.${ext}`);
    const orig = key(base);
    if (used.has(orig)) {
      // numbered from where the last collision of this name stopped: many names mapping to one
      // identifier must not cost a quadratic search
      const limit = k.type === 'directory' ? 31 : 30 - ext.length;
      for (let i = next.get(orig) ?? 1; ; i++) {
        const suffix = String(i);
        const b = base.slice(0, Math.max(0, limit - suffix.length)) + suffix;
        if (!used.has(key(b))) {
          base = b;
          next.set(orig, i + 1);
          break;
        }
      }
    }
    used.add(key(base));
    out.push(k.type === 'directory' ? base : `${base}.${ext};1`);
  }
  return out;
}

const JOLIET_BAD = /[\u0000-\u001f*/:;?\\]/g;

function jolietNames(kids: BuildNode[]): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  const next = new Map<string, number>();
  for (const k of kids) {
    const clean = k.name.replace(JOLIET_BAD, '_');
    const max = k.type === 'directory' ? 64 : 62;
    let n = clean.length > max ? clean.slice(0, max) : clean;
    // never split a surrogate pair
    if (/[\ud800-\udbff]$/.test(n)) n = n.slice(0, -1);
    if (used.has(n)) {
      const orig = n;
      for (let i = next.get(orig) ?? 1; ; i++) {
        const suffix = `~${i}`;
        const dot = n.lastIndexOf('.');
        const stem = dot > 0 && n.length - dot <= 8 ? n.slice(0, dot) : n;
        const tail = dot > 0 && n.length - dot <= 8 ? n.slice(dot) : '';
        const c = stem.slice(0, max - tail.length - suffix.length) + suffix + tail;
        if (!used.has(c)) {
          n = c;
          next.set(orig, i + 1);
          break;
        }
      }
    }
    used.add(n);
    out.push(k.type === 'directory' ? n : `${n};1`);
  }
  return out;
}

/**
 * ECMA-119 9.3 order (name, then extension, each padded with spaces). Since '.' sorts below every
 * d-character, comparing the identifiers without their ';1' gives the same order.
 */
function cmpIso(x: string, y: string): number {
  const xl = x.endsWith(';1') ? x.length - 2 : x.length;
  const yl = y.endsWith(';1') ? y.length - 2 : y.length;
  const n = Math.min(xl, yl);
  for (let i = 0; i < n; i++) {
    const d = x.charCodeAt(i) - y.charCodeAt(i);
    if (d) return d;
  }
  return xl - yl;
}

function extentCount(n: BuildNode): number {
  return n.type === 'file' && n.size > MAX_EXTENT ? Math.ceil(n.size / MAX_EXTENT) : 1;
}

const ER_ID = 'RRIP_1991A';
const ER_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const ER_SRC = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

function splitSu(entries: Uint8Array[], inlineAvail: number): SuLayout {
  const total = entries.reduce((s, e) => s + e.length, 0);
  if (total <= inlineAvail) return { inline: entries, areas: [], addrs: [] };
  const inline: Uint8Array[] = [];
  let i = 0;
  let used = 0;
  while (i < entries.length && used + entries[i]!.length <= inlineAvail - 28) used += entries[i++]!.length;
  inline.push(...entries.slice(0, i));
  const areas: Uint8Array[][] = [];
  let cur: Uint8Array[] = [];
  let curLen = 0;
  for (; i < entries.length; i++) {
    const e = entries[i]!;
    const restAfter = entries.slice(i + 1).reduce((s, x) => s + x.length, 0);
    const needCe = restAfter > 0 && curLen + e.length + restAfter > SECTOR;
    if (curLen + e.length + (needCe ? 28 : 0) > SECTOR) {
      areas.push(cur);
      cur = [];
      curLen = 0;
    }
    cur.push(e);
    curLen += e.length;
  }
  if (cur.length) areas.push(cur);
  return { inline, areas, addrs: [] };
}

const DOT = Uint8Array.of(0);
const DOTDOT = Uint8Array.of(1);

function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

function recordName(r: RecordPlan): Uint8Array {
  if (r.kind === 0) return DOT;
  if (r.kind === 1) return DOTDOT;
  return r.tree === 'iso' ? asciiBytes(r.name!) : encodeUcs2(r.name!);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** A child record's Rock Ridge area: its length computed without encoding when it fits inline. */
function setSuFor(plan: RecordPlan, k: BuildNode, clamp: (d: Date) => Date, avail: number, skip: number): void {
  if (k.type === 'file' || k.type === 'directory') {
    const b = utf8Length(k.name);
    const len = skip + 36 + 26 + b + 5 * Math.max(1, Math.ceil(b / 250));
    if (len <= avail) {
      plan.suLen = len;
      return;
    }
  }
  setSu(plan, rrEntries(k, 2, false, clamp, skip), avail);
}

function setSu(plan: RecordPlan, entries: Uint8Array[], avail: number): void {
  let total = 0;
  for (const e of entries) total += e.length;
  if (total <= avail) plan.suLen = total;
  else plan.su = splitSu(entries, avail);
}

function concat(parts: Uint8Array[], extra?: Uint8Array): Uint8Array {
  let n = extra?.length ?? 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  if (extra) out.set(extra, o);
  return out;
}

function suInlineBytes(su: SuLayout): Uint8Array {
  const a = su.addrs[0];
  return concat(su.inline, a ? encodeCE(a.block, a.offset, a.length) : undefined);
}

function suInlineLength(su: SuLayout): number {
  return su.inline.reduce((s, e) => s + e.length, 0) + (su.areas.length ? 28 : 0);
}

function areaLength(su: SuLayout, i: number): number {
  return su.areas[i]!.reduce((s, e) => s + e.length, 0) + (i + 1 < su.areas.length ? 28 : 0);
}

function areaBytes(su: SuLayout, i: number): Uint8Array {
  const next = su.addrs[i + 1];
  return concat(su.areas[i]!, next ? encodeCE(next.block, next.offset, next.length) : undefined);
}

/** The Rock Ridge entries of one record. */
function rrEntries(n: BuildNode, kind: 0 | 1 | 2, isRootDot: boolean, clamp: (d: Date) => Date, skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (isRootDot) out.push(encodeSP(skip));
  else if (skip) out.push(new Uint8Array(skip)); // SUSP skip bytes (SP len_skp) before every other area
  if (kind === 2) out.push(...encodeNM(new TextEncoder().encode(n.name)));
  let nlink = 1;
  if (n.type === 'directory') {
    // counted once per directory: '..' records of many children would otherwise recount it
    if (n.subdirs === undefined) {
      n.subdirs = 0;
      for (const c of n.children ?? []) if (c.type === 'directory') n.subdirs++;
    }
    nlink = 2 + n.subdirs;
  }
  out.push(encodePX(n.mode, nlink, n.uid, n.gid));
  const t = encodeShortDate(clamp(n.mtime));
  out.push(encodeTF(t, t, t));
  if (kind === 2 && n.type === 'symlink') out.push(...encodeSL(n.target ?? ''));
  if (kind === 2 && n.type === 'other' && n.rdev !== undefined && ((n.mode & 0o170000) === 0o020000 || (n.mode & 0o170000) === 0o060000)) {
    // dev_t split in 32-bit halves (what xorriso and Linux expect: high 0, low = the old major<<8|minor)
    out.push(encodePN(Math.floor(n.rdev / 0x100000000), n.rdev % 0x100000000));
  }
  if (isRootDot) out.push(encodeER(ER_ID, ER_DES, ER_SRC));
  return out;
}

function pad(s: string, len: number): Uint8Array {
  const b = new Uint8Array(len).fill(0x20);
  for (let i = 0; i < Math.min(len, s.length); i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function padUcs2(s: string, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i += 2) {
    b[i] = 0;
    b[i + 1] = 0x20;
  }
  const u = encodeUcs2(s.slice(0, len / 2));
  b.set(u, 0);
  return b;
}

function findNode(root: BuildNode, path: string, what: string): BuildNode {
  let n = root;
  for (const part of path.split('/').filter(Boolean)) {
    const c = n.children?.find((k) => k.name === part);
    if (!c) throw new UsageError(`${what} '${path}' is not in the source tree`);
    n = c;
  }
  if (n.type !== 'file') throw new UsageError(`${what} '${path}' is not a regular file`);
  if (n.size === 0) throw new UsageError(`${what} '${path}' is empty`);
  return n;
}

/** Lay out an ISO image for a scanned tree. Mutates the nodes (names, LBAs). */
export function planIso(root: BuildNode, opts: IsoBuildOptions, now: Date): IsoPlan {
  const rr = opts.rockRidge ?? true;
  const joliet = opts.joliet ?? true;
  const volumeId = opts.volumeId ?? 'CDROM';
  if (volumeId.length > 32) throw new UsageError(`volume id '${volumeId}' is longer than 32 characters`);
  if (/[^\x20-\x7e]/.test(volumeId)) throw new UsageError(`volume id '${volumeId}' must be printable ASCII`);
  for (const [k, v] of [['publisher', opts.publisherId], ['preparer', opts.preparerId], ['application', opts.applicationId]] as const) {
    if (v && v.length > 128) throw new UsageError(`${k} id is longer than 128 characters`);
  }
  const epoch = opts.sourceDateEpoch;
  const suspSkip = opts.suspSkip ?? 0;
  if (!Number.isInteger(suspSkip) || suspSkip < 0 || suspSkip > 100) throw new UsageError('suspSkip must be 0..100');
  const clamp = (d: Date) => (epoch !== undefined && d.getTime() > epoch * 1000 ? new Date(epoch * 1000) : d);

  // ---- boot
  const bootEntries: IsoPlan['bootEntries'] = [];
  const bootPatches = new Map<BuildNode, (data: Uint8Array) => void>();
  let catalogNode: BuildNode | undefined;
  const boots: { node: BuildNode; platformId: number; media: number; count: number }[] = [];
  if (opts.boot) {
    const n = findNode(root, opts.boot, 'boot image');
    let media = 0;
    let count = opts.bootLoadSize ?? 4;
    if (!opts.noEmulBoot) {
      const sizes: Record<number, number> = { [1200 * 1024]: 1, [1440 * 1024]: 2, [2880 * 1024]: 3 };
      media = sizes[n.size] ?? 0;
      if (!media) throw new UsageError(`boot image '${opts.boot}' is ${n.size} bytes, not a floppy size: use --no-emul-boot`);
      count = 1;
    } else if (opts.bootLoadSize === undefined) count = 4;
    if (!Number.isInteger(count) || count < 1 || count > 0xffff) throw new UsageError(`boot load size must be 1..65535 (got ${opts.bootLoadSize})`);
    boots.push({ node: n, platformId: 0, media, count });
  } else if (opts.bootInfoTable || opts.noEmulBoot || opts.bootLoadSize !== undefined) {
    throw new UsageError('--no-emul-boot, --boot-load-size and --boot-info-table need --boot');
  }
  if (opts.efiBoot) {
    const n = findNode(root, opts.efiBoot, 'EFI boot image');
    boots.push({ node: n, platformId: 0xef, media: 0, count: Math.min(0xffff, Math.max(1, Math.ceil(n.size / 512))) });
  }
  if (boots.length) {
    catalogNode = { name: 'boot.catalog', type: 'file', mode: 0o100444, uid: 0, gid: 0, mtime: now, size: SECTOR };
    if (opts.bootCatalog) {
      const parts = opts.bootCatalog.split('/').filter(Boolean);
      const name = parts.pop();
      if (!name) throw new UsageError('empty boot catalog path');
      let dir = root;
      for (const p of parts) {
        const c = dir.children?.find((k) => k.name === p && k.type === 'directory');
        if (!c) throw new UsageError(`boot catalog directory '${parts.join('/')}' is not in the source tree`);
        dir = c;
      }
      if (dir.children!.some((k) => k.name === name)) throw new UsageError(`boot catalog path '${opts.bootCatalog}' already exists in the source tree`);
      catalogNode.name = name;
      dir.children!.push(catalogNode);
      dir.children!.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
  } else if (opts.bootCatalog) throw new UsageError('--boot-catalog needs --boot or --efi-boot');

  // ---- directories in BFS order, names
  const dirs: BuildNode[] = [root];
  const files: BuildNode[] = [];
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i]!;
    const kids = d.children ?? [];
    for (const k of kids) k.parent = d;
    for (const k of kids) {
      if (k.type === 'directory') dirs.push(k);
      else if (k.type === 'file' && k !== catalogNode) files.push(k);
    }
    if (dirs.length > MAX_DIRS) throw new UsageError(`more than ${MAX_DIRS} directories: ISO9660 path tables cannot number them`);
  }
  if (catalogNode && !opts.bootCatalog) {
    // a hidden catalog still needs names for nothing; it is not in any directory
  }
  root.parent = root;

  /**
   * A directory's children with their identifiers in the tree's order. Names are not kept on the
   * nodes (100,000 of them): they are derived again, identically, whenever a directory is visited.
   */
  let lastNamed: { d: BuildNode; tree: 'iso' | 'jol'; list: { node: BuildNode; name: string }[] } | undefined;
  const named = (d: BuildNode, tree: 'iso' | 'jol'): { node: BuildNode; name: string }[] => {
    if (lastNamed && lastNamed.d === d && lastNamed.tree === tree) return lastNamed.list;
    const kids = d.children ?? [];
    const names = tree === 'iso' ? isoNames(kids) : jolietNames(kids);
    const list = kids.map((node, i) => ({ node, name: names[i]! }));
    // Joliet: UTF-16 code unit order is UCS-2 big-endian byte order
    list.sort(tree === 'iso' ? (a, b) => cmpIso(a.name, b.name) : (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of list) {
      if (e.node.type === 'directory') {
        if (tree === 'iso') e.node.isoName = e.name;
        else e.node.jolName = e.name;
      }
    }
    lastNamed = { d, tree, list };
    return list;
  };
  const isoOrder = (d: BuildNode) => named(d, 'iso').map((e) => e.node);
  const jolOrder = (d: BuildNode) => named(d, 'jol').map((e) => e.node);

  // BFS order per tree (path table order: level, parent number, identifier)
  const bfs = (order: (d: BuildNode) => BuildNode[]) => {
    const out: BuildNode[] = [root];
    for (let i = 0; i < out.length; i++) for (const k of order(out[i]!)) if (k.type === 'directory') out.push(k);
    return out;
  };
  const isoDirs = bfs(isoOrder);
  const jolDirs = joliet ? bfs(jolOrder) : [];

  // ---- records and directory sizes
  // Records are not kept: they are produced again, identically, when the directory is written.
  // Only Rock Ridge areas that spill into continuation areas are remembered (their CE addresses).
  const childSu = new Map<BuildNode, SuLayout>();
  const dotSu = new Map<BuildNode, SuLayout>();
  const parentSu = new Map<BuildNode, SuLayout>();
  function* recordsOf(d: BuildNode, tree: 'iso' | 'jol'): Generator<RecordPlan> {
    const withRr = tree === 'iso' && rr;
    for (const kind of [0, 1] as const) {
      const node = kind === 0 ? d : d.parent!;
      const plan: RecordPlan = { node, kind, nameLen: 1, tree, pos: 0, part: 0, parts: 1, rootDot: kind === 0 && d === root };
      if (withRr) {
        const memo = (kind === 0 ? dotSu : parentSu).get(d);
        if (memo) plan.su = memo;
        else {
          setSu(plan, rrEntries(node, kind, plan.rootDot!, clamp, suspSkip), 255 - dirRecordLength(1, 0));
          if (plan.su) (kind === 0 ? dotSu : parentSu).set(d, plan.su);
        }
      }
      yield plan;
    }
    for (const { node: k, name } of named(d, tree)) {
      const nameLen = tree === 'iso' ? name.length : name.length * 2;
      const parts = extentCount(k);
      for (let p = 0; p < parts; p++) {
        const plan: RecordPlan = { node: k, kind: 2, nameLen, name, tree, pos: 0, part: p, parts };
        if (withRr) {
          const memo = childSu.get(k);
          if (memo) plan.su = memo;
          else {
            setSuFor(plan, k, clamp, 255 - dirRecordLength(nameLen, 0), suspSkip);
            if (plan.su) childSu.set(k, plan.su);
          }
        }
        yield plan;
      }
    }
  }
  /** Records with their positions: none crosses a sector end. */
  function* positioned(d: BuildNode, tree: 'iso' | 'jol'): Generator<RecordPlan> {
    let pos = 0;
    for (const r of recordsOf(d, tree)) {
      const len = dirRecordLength(r.nameLen, r.su ? suInlineLength(r.su) : r.suLen ?? 0);
      if ((pos % SECTOR) + len > SECTOR) pos = Math.ceil(pos / SECTOR) * SECTOR;
      r.pos = pos;
      yield r;
      pos += len;
    }
    yield { node: d, kind: 0, nameLen: 0, tree, pos, part: -1, parts: 0 };
  }
  const layoutDir = (d: BuildNode, tree: 'iso' | 'jol', number: number): DirLayout => {
    let end = 0;
    for (const r of positioned(d, tree)) if (r.part === -1) end = r.pos;
    return { lba: 0, size: Math.max(SECTOR, Math.ceil(end / SECTOR) * SECTOR), number };
  };
  isoDirs.forEach((d, i) => (d.isoDir = layoutDir(d, 'iso', i + 1)));
  jolDirs.forEach((d, i) => (d.jolDir = layoutDir(d, 'jol', i + 1)));

  // ---- path tables
  const ptEntries = (list: BuildNode[], which: 'iso' | 'jol') =>
    list.map((d) => ({
      name: d === root ? Uint8Array.of(0) : which === 'iso' ? asciiBytes(d.isoName!) : encodeUcs2(d.jolName!),
      extent: 0,
      parent: d === root ? 1 : (which === 'iso' ? d.parent!.isoDir! : d.parent!.jolDir!).number,
      dir: which === 'iso' ? d.isoDir! : d.jolDir!,
    }));
  const isoPt = ptEntries(isoDirs, 'iso');
  const jolPt = joliet ? ptEntries(jolDirs, 'jol') : [];
  const ptSize = (pt: { name: Uint8Array }[]) => pt.reduce((s, e) => s + 8 + e.name.length + (e.name.length & 1), 0);
  const isoPtSize = ptSize(isoPt);
  const jolPtSize = ptSize(jolPt);
  const blocks = (n: number) => Math.ceil(n / SECTOR);

  // ---- LBA assignment
  let lba = 16;
  const pvdLba = lba++;
  const bootVdLba = boots.length ? lba++ : 0;
  const svdLba = joliet ? lba++ : 0;
  const termLba = lba++;
  const catalogLba = boots.length ? lba++ : 0;
  if (catalogNode) catalogNode.dataLba = catalogLba;
  const isoLPt = lba; lba += blocks(isoPtSize);
  const isoMPt = lba; lba += blocks(isoPtSize);
  const jolLPt = lba; lba += joliet ? blocks(jolPtSize) : 0;
  const jolMPt = lba; lba += joliet ? blocks(jolPtSize) : 0;
  for (const d of isoDirs) {
    d.isoDir!.lba = lba;
    lba += d.isoDir!.size / SECTOR;
  }
  for (const d of jolDirs) {
    d.jolDir!.lba = lba;
    lba += d.jolDir!.size / SECTOR;
  }
  for (const e of isoPt) e.extent = e.dir.lba;
  for (const e of jolPt) e.extent = e.dir.lba;
  // continuation areas
  const ceStart = lba;
  let ceBlock = lba, ceOff = 0;
  let anyCe = false;
  const spilled = [...dotSu.values(), ...parentSu.values(), ...childSu.values()];
  for (const su of spilled) {
    for (let i = 0; i < su.areas.length; i++) {
      const len = areaLength(su, i);
      if (ceOff + len > SECTOR) {
        ceBlock++;
        ceOff = 0;
      }
      su.addrs.push({ block: ceBlock, offset: ceOff, length: len });
      ceOff += len;
      anyCe = true;
    }
  }
  lba = anyCe ? ceBlock + 1 : ceStart;
  const ceEnd = lba;
  // file data
  const linked = new Map<string, BuildNode>();
  const unique: BuildNode[] = [];
  for (const f of files) {
    if (f.size === 0) {
      f.dataLba = 0;
      continue;
    }
    const first = f.linkKey !== undefined ? linked.get(f.linkKey) : undefined;
    if (first && first.size === f.size) {
      f.dataLba = first.dataLba;
      continue;
    }
    if (f.linkKey !== undefined) linked.set(f.linkKey, f);
    unique.push(f);
    f.dataLba = lba;
    lba += blocks(f.size);
    if (lba > MAX_BLOCKS) throw new UsageError('the image would exceed 2^32 blocks (8 TiB)');
  }
  const totalBlocks = lba;

  // ---- boot catalog and info table
  if (boots.length) {
    for (const b of boots) {
      bootEntries.push({ platform: b.platformId === 0xef ? 'EFI' : 'x86', lba: b.node.dataLba!, sectorCount: b.count });
    }
    catalogNode!.bytes = encodeBootCatalog(boots.map((b) => ({ platformId: b.platformId, mediaType: b.media, loadSegment: 0, systemType: 0, sectorCount: b.count, loadRba: b.node.dataLba! })));
    if (opts.bootInfoTable) {
      const n = boots[0]!.node;
      if (n.size < 64) throw new UsageError(`boot image '${opts.boot}' is too small for a boot info table (${n.size} bytes)`);
      bootPatches.set(n, (data) => {
        let sum = 0;
        for (let i = 64; i < data.length; i += 4) {
          sum = (sum + ((data[i]! | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24)) >>> 0)) >>> 0;
        }
        const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
        v.setUint32(8, pvdLba, true);
        v.setUint32(12, n.dataLba!, true);
        v.setUint32(16, n.size, true);
        v.setUint32(20, sum, true);
        data.fill(0, 24, 64);
      });
    }
  }

  // ---- encoders
  const recordBytes = (r: RecordPlan, tree: 'iso' | 'jol'): Uint8Array => {
    const n = r.node;
    let extent: number, size: number, flags = 0;
    if (r.kind !== 2 || n.type === 'directory') {
      const dl = tree === 'iso' ? n.isoDir! : n.jolDir!;
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
  };
  const dirBytes = (d: BuildNode, tree: 'iso' | 'jol'): Uint8Array => {
    const dl = tree === 'iso' ? d.isoDir! : d.jolDir!;
    const out = new Uint8Array(dl.size);
    for (const r of positioned(d, tree)) if (r.part !== -1) out.set(recordBytes(r, tree), r.pos);
    return out;
  };
  const rootRecord = (tree: 'iso' | 'jol') => {
    const dl = tree === 'iso' ? root.isoDir! : root.jolDir!;
    return encodeDirRecord({ extAttrLength: 0, extent: dl.lba, dataLength: dl.size, date: encodeShortDate(clamp(root.mtime)), flags: FLAG_DIRECTORY, unitSize: 0, gapSize: 0, volumeSequenceNumber: 1 }, Uint8Array.of(0));
  };
  const vd = (tree: 'iso' | 'jol'): Uint8Array => {
    const j = tree === 'jol';
    const text = j ? padUcs2 : pad;
    const d: RawVolumeDescriptor = {
      type: j ? 2 : 1, id: 'CD001', version: 1, flags: 0,
      systemId: text(opts.systemId ?? '', 32), volumeId: j ? padUcs2(volumeId, 32) : pad(volumeId, 32),
      volumeSpaceSize: totalBlocks, escapes: j ? Uint8Array.of(0x25, 0x2f, 0x45, ...new Uint8Array(29)) : new Uint8Array(32),
      volumeSetSize: 1, volumeSequenceNumber: 1, logicalBlockSize: SECTOR,
      pathTableSize: j ? jolPtSize : isoPtSize, lPathTable: j ? jolLPt : isoLPt, optLPathTable: 0, mPathTable: j ? jolMPt : isoMPt, optMPathTable: 0,
      rootRecord: rootRecord(tree), volumeSetId: text('', 128), publisherId: text(opts.publisherId ?? '', 128),
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
  };

  function* metadata(): Generator<{ offset: number; bytes: Uint8Array }> {
    yield { offset: pvdLba * SECTOR, bytes: vd('iso') };
    if (boots.length) {
      const b = new Uint8Array(SECTOR);
      b[0] = 0;
      b.set(new TextEncoder().encode('CD001'), 1);
      b[6] = 1;
      b.set(new TextEncoder().encode('EL TORITO SPECIFICATION'), 7);
      new DataView(b.buffer).setUint32(71, catalogLba, true);
      yield { offset: bootVdLba * SECTOR, bytes: b };
    }
    if (joliet) yield { offset: svdLba * SECTOR, bytes: vd('jol') };
    const t = new Uint8Array(SECTOR);
    t[0] = 255;
    t.set(new TextEncoder().encode('CD001'), 1);
    t[6] = 1;
    yield { offset: termLba * SECTOR, bytes: t };
    if (boots.length) yield { offset: catalogLba * SECTOR, bytes: catalogNode!.bytes! };
    yield { offset: isoLPt * SECTOR, bytes: encodePathTable(isoPt, false) };
    yield { offset: isoMPt * SECTOR, bytes: encodePathTable(isoPt, true) };
    if (joliet) {
      yield { offset: jolLPt * SECTOR, bytes: encodePathTable(jolPt, false) };
      yield { offset: jolMPt * SECTOR, bytes: encodePathTable(jolPt, true) };
    }
    for (const d of isoDirs) yield { offset: d.isoDir!.lba * SECTOR, bytes: dirBytes(d, 'iso') };
    for (const d of jolDirs) yield { offset: d.jolDir!.lba * SECTOR, bytes: dirBytes(d, 'jol') };
    if (anyCe) {
      // continuation areas, one block at a time
      let cur = new Uint8Array(SECTOR);
      let curBlock = ceStart;
      for (const su of spilled) {
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
      void ceEnd;
    }
  }

  return { totalBlocks, files: unique, metadata, bootPatches, bootEntries };
}
