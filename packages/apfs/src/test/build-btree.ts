/** Test fixture writer, part 1: APFS objects and B-tree nodes laid out as the reference describes. */
import { sealObject } from '../object.js';

export const BS = 4096;

export interface Rec {
  key: Uint8Array;
  val: Uint8Array;
}

export interface Obj {
  paddr: number;
  bytes: Uint8Array;
}

/** Hands out block addresses and virtual ids; collects every object block written. */
export class Space {
  next: number;
  nextOid = 1026;
  readonly blocks = new Map<number, Uint8Array>();
  constructor(first: number) {
    this.next = first;
  }
  alloc(n = 1): number {
    const p = this.next;
    this.next += n;
    return p;
  }
  put(paddr: number, bytes: Uint8Array): void {
    this.blocks.set(paddr, bytes);
  }
}

export function header(b: Uint8Array, oid: number, xid: number, type: number, subtype = 0): DataView {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  dv.setBigUint64(8, BigInt(oid), true);
  dv.setBigUint64(16, BigInt(xid), true);
  dv.setUint32(24, type >>> 0, true);
  dv.setUint32(28, subtype, true);
  return dv;
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function le(n: number | bigint, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let v = typeof n === 'bigint' ? n : BigInt(n);
  for (let i = 0; i < bytes; i++, v >>= 8n) b[i] = Number(v & 0xffn);
  return b;
}

const a8 = (n: number) => (n + 7) & ~7;

export interface TreeSpec {
  /** Fixed key/value sizes (object maps) or variable (file-system trees). */
  fixed?: { key: number; val: number };
  physical: boolean;
  subtype: number;
  xid: number;
  /** Virtual ids to use for this tree's nodes, in order of creation (for snapshot trees sharing ids). */
  oids?: number[];
}

/** Bytes one entry takes in a node: its table-of-contents slot, key and value (8-aligned unless fixed). */
function entryBytes(e: Rec, fixed: boolean): number {
  return fixed ? 4 + e.key.length + e.val.length : 8 + a8(e.key.length) + a8(e.val.length);
}
/** Room for entries in a node: the header and the 40-byte tree info are always kept free. */
const ROOM = BS - 56 - 40;

function encodeNode(entries: Rec[], level: number, root: boolean, spec: TreeSpec, oid: number, info: { keys: number; nodes: number; longestKey: number; longestVal: number }): Uint8Array {
  const b = new Uint8Array(BS);
  const storage = spec.physical ? 0x40000000 : 0;
  const dv = header(b, oid, spec.xid, (root ? 0x2 : 0x3) | storage, spec.subtype);
  const fixed = !!spec.fixed;
  dv.setUint16(32, (root ? 1 : 0) | (level === 0 ? 2 : 0) | (fixed ? 4 : 0), true);
  dv.setUint16(34, level, true);
  dv.setUint32(36, entries.length, true);
  const tocLen = entries.length * (fixed ? 4 : 8);
  dv.setUint16(40, 0, true);
  dv.setUint16(42, tocLen, true);
  const keyStart = 56 + tocLen;
  const valEnd = root ? BS - 40 : BS;
  let k = 0, v = 0;
  entries.forEach((e, i) => {
    b.set(e.key, keyStart + k);
    v += fixed ? e.val.length : a8(e.val.length);
    b.set(e.val, valEnd - v);
    if (fixed) {
      dv.setUint16(56 + i * 4, k, true);
      dv.setUint16(56 + i * 4 + 2, v, true);
    } else {
      dv.setUint16(56 + i * 8, k, true);
      dv.setUint16(56 + i * 8 + 2, e.key.length, true);
      dv.setUint16(56 + i * 8 + 4, v, true);
      dv.setUint16(56 + i * 8 + 6, e.val.length, true);
    }
    k += fixed ? e.key.length : a8(e.key.length);
  });
  dv.setUint16(44, k, true);
  dv.setUint16(46, valEnd - v - keyStart - k, true);
  dv.setUint16(48, 0xffff, true);
  dv.setUint16(52, 0xffff, true);
  if (root) {
    const i = BS - 40;
    dv.setUint32(i, spec.physical ? 0x10 : 0, true);
    dv.setUint32(i + 4, BS, true);
    dv.setUint32(i + 8, spec.fixed?.key ?? 0, true);
    dv.setUint32(i + 12, spec.fixed?.val ?? 0, true);
    dv.setUint32(i + 16, info.longestKey, true);
    dv.setUint32(i + 20, info.longestVal, true);
    dv.setBigUint64(i + 24, BigInt(info.keys), true);
    dv.setBigUint64(i + 32, BigInt(info.nodes), true);
  }
  return b;
}

/** Lay sorted records out as a B-tree; returns the root's id and every node (with its block and id). */
export function buildTree(space: Space, records: Rec[], spec: TreeSpec): { root: number; nodes: { oid: number; paddr: number }[] } {
  const fixed = !!spec.fixed;
  const info = { keys: records.length, nodes: 0, longestKey: records.reduce((m, r) => Math.max(m, r.key.length), 0), longestVal: records.reduce((m, r) => Math.max(m, r.val.length), 0) };
  // Group into nodes level by level; each group is one node.
  const levels: Rec[][][] = [];
  let cur = records;
  for (let level = 0; ; level++) {
    const groups: Rec[][] = [];
    let g: Rec[] = [];
    let used = 0;
    for (const r of cur) {
      const n = entryBytes(r, fixed);
      if (g.length && used + n > ROOM) {
        groups.push(g);
        g = [];
        used = 0;
      }
      g.push(r);
      used += n;
    }
    groups.push(g);
    levels.push(groups);
    if (groups.length === 1) break;
    cur = groups.map((gr) => ({ key: gr[0]!.key, val: new Uint8Array(8) })); // child pointers filled below
  }
  info.nodes = levels.reduce((s, l) => s + l.length, 0);
  const nodes: { oid: number; paddr: number }[] = [];
  let oidIndex = 0;
  const ids: number[][] = levels.map((l) => l.map(() => {
    const paddr = space.alloc();
    const oid = spec.physical ? paddr : spec.oids?.[oidIndex++] ?? space.nextOid++;
    nodes.push({ oid, paddr });
    return nodes.length - 1;
  }));
  for (let level = 0; level < levels.length; level++) {
    levels[level]!.forEach((group, gi) => {
      const n = nodes[ids[level]![gi]!]!;
      let entries = group;
      if (level > 0) {
        // This group's children are the groups of the level below, in order.
        const before = levels[level]!.slice(0, gi).reduce((s, x) => s + x.length, 0);
        entries = group.map((e, j) => ({ key: e.key, val: le(nodes[ids[level - 1]![before + j]!]!.oid, 8) }));
      }
      const root = level === levels.length - 1;
      space.put(n.paddr, sealObject(encodeNode(entries, level, root, spec, n.oid, info)));
    });
  }
  return { root: nodes[ids[levels.length - 1]![0]!]!.oid, nodes };
}
