/**
 * Test fixture writer, part 2: a whole APFS container from a list of entries — checkpoint, object
 * maps, volumes, file-system trees (several levels when there are many records), snapshots,
 * extents with holes, extended attributes, decmpfs, hard links. Only what a reader needs is
 * written (no space manager, no reaper), so apfsck refuses it; 7-Zip reads it.
 */
import { crc32c } from '@diskit/core';
import { sealObject } from '../object.js';
import { BS, Space, buildTree, concat, header, le, type Rec } from './build-btree.js';

export interface Entry {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  data?: Uint8Array;
  target?: string;
  mode?: number;
  xattrs?: Record<string, Uint8Array>;
  /** decmpfs: the attribute value and, for resource-fork types, the fork's bytes. */
  decmpfs?: { attr: Uint8Array; fork?: Uint8Array };
  /** Write all-zero blocks as holes. */
  sparse?: boolean;
  /** Another path of the same file (a hard link). */
  linkTo?: string;
  mtime?: number;
}

export interface VolumeSpec {
  name: string;
  role?: number;
  caseInsensitive?: boolean;
  entries: Entry[];
  /** Older states of the volume, each its own tree at its own transaction. */
  snapshots?: { name: string; entries: Entry[] }[];
  encrypted?: boolean;
  /** Mark the volume sealed (APFS_INCOMPAT_SEALED_VOLUME) without the integrity metadata. */
  sealed?: boolean;
}

const enc = new TextEncoder();
/** A key header: object id in the low 60 bits, record type in the top 4. */
export const T = (id: number, type: number) => le(BigInt(id) | (BigInt(type) << 60n), 8);
const J = { INODE: 3, XATTR: 4, SIBLING: 5, DSTREAM: 6, EXTENT: 8, DREC: 9, SIBMAP: 12, SNAP_META: 1, SNAP_NAME: 11 };

function nameHash(name: string, ci: boolean): number {
  const s = ci ? name.normalize('NFD').toLowerCase() : name.normalize('NFD');
  const cps = [...s].map((c) => c.codePointAt(0)!);
  const u = new Uint8Array(cps.length * 4);
  cps.forEach((c, i) => new DataView(u.buffer).setUint32(i * 4, c, true));
  return (~crc32c(u) >>> 0) & 0x3fffff;
}

function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** fs-tree key order: object id, type, then the rest (hash+name, name, offset) compared as numbers/bytes. */
function cmpKeys(a: Uint8Array, b: Uint8Array): number {
  const da = new DataView(a.buffer, a.byteOffset), db = new DataView(b.buffer, b.byteOffset);
  const ia = da.getBigUint64(0, true), ib = db.getBigUint64(0, true);
  const oa = ia & ((1n << 60n) - 1n), ob = ib & ((1n << 60n) - 1n);
  if (oa !== ob) return oa < ob ? -1 : 1;
  if (ia >> 60n !== ib >> 60n) return ia >> 60n < ib >> 60n ? -1 : 1;
  const type = Number(ia >> 60n);
  if (type === J.EXTENT || type === J.SIBLING) {
    const x = da.getBigUint64(8, true), y = db.getBigUint64(8, true);
    return x === y ? 0 : x < y ? -1 : 1;
  }
  if (type === J.DREC && a.length >= 12 && b.length >= 12) {
    const x = da.getUint32(8, true) >>> 10, y = db.getUint32(8, true) >>> 10;
    if (x !== y) return x - y;
  }
  return cmpBytes(a.subarray(8), b.subarray(8));
}

const cstr = (s: string) => concat(enc.encode(s), [0]);

function xfields(fields: { type: number; data: Uint8Array }[]): Uint8Array {
  if (!fields.length) return new Uint8Array(0);
  const hdr = concat(le(fields.length, 2), le(fields.reduce((s, f) => s + ((f.data.length + 7) & ~7), 0), 2), ...fields.map((f) => concat([f.type, 0x20], le(f.data.length, 2))));
  const body = fields.map((f) => concat(f.data, new Uint8Array(((f.data.length + 7) & ~7) - f.data.length)));
  return concat(hdr, ...body);
}

function inodeVal(o: { parent: number; priv: number; t: number; nlink: number; bsd: number; mode: number; name: string; size?: number; alloc?: number; uncompressed?: number }): Uint8Array {
  const ns = le(BigInt(o.t) * 1_000_000n, 8);
  const fixed = concat(le(o.parent, 8), le(o.priv, 8), ns, ns, ns, ns, le(o.uncompressed !== undefined ? 0x40000 : 0, 8), le(o.nlink, 4), le(0, 4), le(0, 4), le(o.bsd, 4), le(501, 4), le(20, 4), le(o.mode, 2), le(0, 2), le(o.uncompressed ?? 0, 8));
  const f = [{ type: 4, data: cstr(o.name) }];
  if (o.size !== undefined) f.push({ type: 8, data: concat(le(o.size, 8), le(o.alloc ?? 0, 8), le(0, 8), le(0, 8), le(0, 8)) });
  return concat(fixed, xfields(f));
}

/** The records of one file-system tree; file data goes to fresh blocks. */
export function fsRecords(space: Space, entries: Entry[], ci: boolean, hashed: boolean): { recs: Rec[]; files: number; dirs: number; links: number } {
  const recs: Rec[] = [];
  const ids = new Map<string, number>([['/', 2]]);
  const children = new Map<number, number>();
  let next = 16, files = 0, dirs = 0, links = 0;
  const t0 = 1_700_000_000_000;
  const drec = (parent: number, name: string, id: number, dt: number, extra?: Uint8Array) => {
    const nb = cstr(name);
    const key = hashed ? concat(T(parent, J.DREC), le(((nameHash(name, ci) << 10) | nb.length) >>> 0, 4), nb) : concat(T(parent, J.DREC), le(nb.length, 2), nb);
    recs.push({ key, val: concat(le(id, 8), le(BigInt(t0) * 1_000_000n, 8), le(dt, 2), extra ?? new Uint8Array(0)) });
  };
  // Attribute streams have no data-stream record of their own (7-Zip refuses one).
  const stream = (oid: number, data: Uint8Array, sparse: boolean, dstreamRecord = true) => {
    if (dstreamRecord) recs.push({ key: T(oid, J.DSTREAM), val: le(1, 4) });
    const nblocks = Math.ceil(data.length / BS);
    for (let b = 0; b < nblocks; ) {
      const zero = (i: number) => sparse && data.subarray(i * BS, (i + 1) * BS).every((x) => x === 0);
      let e = b + 1;
      while (e < nblocks && zero(e) === zero(b)) e++;
      const hole = zero(b);
      let phys = 0;
      if (!hole) {
        phys = space.alloc(e - b);
        for (let i = b; i < e; i++) {
          const blk = new Uint8Array(BS);
          blk.set(data.subarray(i * BS, Math.min(data.length, (i + 1) * BS)));
          space.put(phys + i - b, blk);
        }
      }
      if (!hole || !sparse || e < nblocks) recs.push({ key: concat(T(oid, J.EXTENT), le(b * BS, 8)), val: concat(le((e - b) * BS, 8), le(phys, 8), le(0, 8)) });
      b = e;
    }
    return nblocks * BS;
  };
  recs.push({ key: T(2, J.INODE), val: new Uint8Array(0) }); // filled in after the children are counted
  recs.push({ key: T(3, J.INODE), val: inodeVal({ parent: 1, priv: 3, t: t0, nlink: 0, bsd: 0, mode: 0o40755, name: 'private-dir' }) });
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : 1));
  const linksTo = new Map<string, number>();
  for (const e of entries) if (e.linkTo) linksTo.set(e.linkTo, (linksTo.get(e.linkTo) ?? 0) + 1);
  const pathOf = new Map<number, string>();
  for (const e of sorted) {
    const i = e.path.lastIndexOf('/');
    const parentPath = e.path.slice(0, i) || '/', name = e.path.slice(i + 1);
    const parent = ids.get(parentPath)!;
    children.set(parent, (children.get(parent) ?? 0) + 1);
    if (e.linkTo) {
      const id = ids.get(e.linkTo)!;
      links++;
      drec(parent, name, id, 8, xfields([{ type: 1, data: le(id * 1000 + links, 8) }]));
      recs.push({ key: concat(T(id, J.SIBLING), le(id * 1000 + links, 8)), val: concat(le(parent, 8), le(name.length + 1, 2), cstr(name)) });
      recs.push({ key: T(id * 1000 + links, J.SIBMAP), val: le(id, 8) });
      continue;
    }
    const id = next++;
    ids.set(e.path, id);
    pathOf.set(id, e.path);
    const t = e.mtime ?? t0;
    if (e.type === 'directory') {
      dirs++;
      drec(parent, name, id, 4);
      recs.push({ key: T(id, J.INODE), val: new Uint8Array(0) });
    } else if (e.type === 'symlink') {
      files++;
      drec(parent, name, id, 10);
      recs.push({ key: T(id, J.INODE), val: inodeVal({ parent, priv: id, t, nlink: 1, bsd: 0, mode: 0o120755, name }) });
      const v = cstr(e.target!);
      recs.push({ key: concat(T(id, J.XATTR), le(21, 2), cstr('com.apple.fs.symlink')), val: concat(le(0x6, 2), le(v.length, 2), v) });
    } else {
      files++;
      drec(parent, name, id, 8);
      const nlink = 1 + (linksTo.get(e.path) ?? 0);
      if (e.decmpfs) {
        const a = e.decmpfs.attr;
        // macOS also keeps the size in the inode (INODE_HAS_UNCOMPRESSED_SIZE); 7-Zip insists on it.
        const uncompressed = Number(new DataView(a.buffer, a.byteOffset).getBigUint64(8, true));
        recs.push({ key: T(id, J.INODE), val: inodeVal({ parent, priv: id, t, nlink, bsd: 0x20, mode: e.mode ?? 0o100644, name, uncompressed }) });
        recs.push({ key: concat(T(id, J.XATTR), le(18, 2), cstr('com.apple.decmpfs')), val: concat(le(0x2, 2), le(a.length, 2), a) });
        if (e.decmpfs.fork) {
          const xid = next++;
          const alloc = stream(xid, e.decmpfs.fork, false, false);
          recs.push({ key: concat(T(id, J.XATTR), le(23, 2), cstr('com.apple.ResourceFork')), val: concat(le(0x1, 2), le(48, 2), le(xid, 8), le(e.decmpfs.fork.length, 8), le(alloc, 8), le(0, 24)) });
        }
      } else {
        const data = e.data ?? new Uint8Array(0);
        const alloc = data.length ? stream(id, data, e.sparse === true) : 0;
        recs.push({ key: T(id, J.INODE), val: inodeVal({ parent, priv: id, t, nlink, bsd: 0, mode: e.mode ?? 0o100644, name, size: data.length, alloc }) });
      }
    }
    for (const [xn, xv] of Object.entries(e.xattrs ?? {})) {
      recs.push({ key: concat(T(id, J.XATTR), le(enc.encode(xn).length + 1, 2), cstr(xn)), val: concat(le(0x2, 2), le(xv.length, 2), xv) });
    }
  }
  // Directory inodes last: they need their child counts.
  for (const r of recs) {
    if (r.val.length) continue;
    const id = Number(new DataView(r.key.buffer, r.key.byteOffset).getBigUint64(0, true) & ((1n << 60n) - 1n));
    const path = id === 2 ? '/' : pathOf.get(id)!;
    const parent = id === 2 ? 1 : ids.get(path.slice(0, path.lastIndexOf('/')) || '/')!;
    r.val = inodeVal({ parent, priv: id, t: t0, nlink: children.get(id) ?? 0, bsd: 0, mode: 0o40755, name: id === 2 ? 'root' : path.slice(path.lastIndexOf('/') + 1) });
  }
  recs.sort((a, b) => cmpKeys(a.key, b.key));
  return { recs, files, dirs, links };
}

export { cmpKeys, nameHash };

