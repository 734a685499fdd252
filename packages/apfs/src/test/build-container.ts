/** Test fixture writer, part 3: the container around the volumes (see build-fs.ts). */
import { sealObject } from '../object.js';
import { BS, Space, buildTree, concat, header, le, type Rec } from './build-btree.js';
import { T, fsRecords, type VolumeSpec } from './build-fs.js';

export type { Entry, VolumeSpec } from './build-fs.js';

const OMAP_KV = { key: 16, val: 16 };
const enc = new TextEncoder();

function omapTree(space: Space, maps: { oid: number; xid: number; paddr: number }[], xid: number): number {
  const recs: Rec[] = maps
    .sort((a, b) => a.oid - b.oid || a.xid - b.xid)
    .map((m) => ({ key: concat(le(m.oid, 8), le(m.xid, 8)), val: concat(le(0, 4), le(BS, 4), le(m.paddr, 8)) }));
  const tree = buildTree(space, recs, { fixed: OMAP_KV, physical: true, subtype: 0x0b, xid });
  const p = space.alloc();
  const b = new Uint8Array(BS);
  const dv = header(b, p, xid, 0x4000000b);
  dv.setUint32(40, 0x40000002, true);
  dv.setUint32(44, 0x40000002, true);
  dv.setBigUint64(48, BigInt(tree.root), true);
  space.put(p, sealObject(b));
  return p;
}

function volumeSuperblock(o: { oid: number; xid: number; type: number; index: number; v: VolumeSpec; omap: number; root: number; snapTree: number; counts: { files: number; dirs: number }; snaps: number; hashed: boolean }): Uint8Array {
  const b = new Uint8Array(BS);
  const dv = header(b, o.oid, o.xid, o.type);
  dv.setUint32(32, 0x42535041, true);
  dv.setUint32(36, o.index, true);
  dv.setBigUint64(56, BigInt((o.v.caseInsensitive ? 1 : o.hashed ? 8 : 0) | (o.v.sealed ? 0x20 : 0)), true);
  dv.setBigUint64(88, 100n, true);
  dv.setUint32(116, 0x2, true);
  dv.setUint32(120, 0x40000002, true);
  dv.setUint32(124, 0x40000002, true);
  dv.setBigUint64(128, BigInt(o.omap), true);
  dv.setBigUint64(136, BigInt(o.root), true);
  dv.setBigUint64(152, BigInt(o.snapTree), true);
  dv.setBigUint64(176, 1n << 20n, true);
  dv.setBigUint64(184, BigInt(o.counts.files), true);
  dv.setBigUint64(192, BigInt(o.counts.dirs), true);
  dv.setBigUint64(216, BigInt(o.snaps), true);
  b.set([0x11, 0x22, 0x33, 0x44, o.index, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1], 240);
  dv.setBigUint64(264, o.v.encrypted ? 0n : 1n, true);
  b.set(enc.encode('diskit test builder'), 272);
  b.set(enc.encode(o.v.name), 704);
  dv.setUint16(964, o.v.role ?? 0, true);
  return sealObject(b);
}

/**
 * A container holding `volumes`. The live state is transaction 10; snapshot k of a volume is
 * transaction k+2, its tree reusing the live tree's virtual ids so that lookups must pick by xid.
 */
export function buildApfs(volumes: VolumeSpec[], opts: { hashed?: boolean } = {}): Uint8Array {
  const XID = 10;
  const space = new Space(17);
  const containerMaps: { oid: number; xid: number; paddr: number }[] = [];
  const fsOids: number[] = [];
  volumes.forEach((v, index) => {
    const hashed = v.caseInsensitive === true || opts.hashed === true;
    const maps: { oid: number; xid: number; paddr: number }[] = [];
    const live = fsRecords(space, v.entries, v.caseInsensitive === true, hashed);
    const liveTree = buildTree(space, live.recs, { physical: false, subtype: 0x0e, xid: XID });
    for (const n of liveTree.nodes) maps.push({ oid: n.oid, xid: XID, paddr: n.paddr });
    const vsbOid = space.nextOid++;
    const snapRecs: Rec[] = [];
    const snapSupers: { paddr: number; xid: number; root: number; counts: { files: number; dirs: number } }[] = [];
    (v.snapshots ?? []).forEach((s, k) => {
      const sx = k + 2;
      const r = fsRecords(space, s.entries, v.caseInsensitive === true, hashed);
      const t = buildTree(space, r.recs, { physical: false, subtype: 0x0e, xid: sx, oids: liveTree.nodes.map((n) => n.oid) });
      for (const n of t.nodes) maps.push({ oid: n.oid, xid: sx, paddr: n.paddr });
      const sp = space.alloc();
      snapSupers.push({ paddr: sp, xid: sx, root: t.root, counts: { files: r.files, dirs: r.dirs } });
      const name = concat(enc.encode(s.name), [0]);
      snapRecs.push({ key: T(sx, 1), val: concat(le(0, 8), le(sp, 8), le(1_700_000_000_000_000_000n + BigInt(k) * 1_000_000_000n, 8), le(1_700_000_000_000_000_000n, 8), le(0, 8), le(0x40000002, 4), le(0, 4), le(name.length, 2), name) });
    });
    // Name records sort after every metadata record (object id ~0).
    for (const [k, s] of (v.snapshots ?? []).entries()) {
      const name = concat(enc.encode(s.name), [0]);
      snapRecs.push({ key: concat(le((1n << 60n) - 1n | (11n << 60n), 8), le(name.length, 2), name), val: le(k + 2, 8) });
    }
    const snapTree = snapRecs.length ? buildTree(space, snapRecs, { physical: true, subtype: 0x10, xid: XID }).root : 0;
    const omap = omapTree(space, maps, XID);
    for (const s of snapSupers) {
      space.put(s.paddr, volumeSuperblock({ oid: s.paddr, xid: s.xid, type: 0x4000000d, index, v, omap, root: s.root, snapTree: 0, counts: s.counts, snaps: 0, hashed }));
    }
    const vp = space.alloc();
    space.put(vp, volumeSuperblock({ oid: vsbOid, xid: XID, type: 0x0d, index, v, omap, root: liveTree.root, snapTree, counts: { files: live.files, dirs: live.dirs }, snaps: snapSupers.length, hashed }));
    containerMaps.push({ oid: vsbOid, xid: XID, paddr: vp });
    fsOids.push(vsbOid);
  });
  const omap = omapTree(space, containerMaps, XID);
  const blockCount = space.next + 16;
  const nx = (paddr: number) => {
    const b = new Uint8Array(BS);
    const dv = header(b, paddr === 0 ? 1 : 1, XID, 0x80000001);
    dv.setUint32(32, 0x4253584e, true);
    dv.setUint32(36, BS, true);
    dv.setBigUint64(40, BigInt(blockCount), true);
    dv.setBigUint64(64, 2n, true);
    b.set([0xd1, 0x5c, 0x17, 0, 0xa9, 0xf5, 0x4e, 0x11, 0x80, 0, 0, 0, 0, 0, 0, 2], 72);
    dv.setBigUint64(88, BigInt(space.nextOid), true);
    dv.setBigUint64(96, BigInt(XID + 1), true);
    dv.setUint32(104, 8, true);
    dv.setUint32(108, 8, true);
    dv.setBigUint64(112, 1n, true);
    dv.setBigUint64(120, 9n, true);
    dv.setUint32(128, 2, true);
    dv.setUint32(140, 2, true);
    dv.setBigUint64(160, BigInt(omap), true);
    dv.setUint32(180, 100, true);
    fsOids.forEach((o, i) => dv.setBigUint64(184 + i * 8, BigInt(o), true));
    return sealObject(b);
  };
  const cpm = new Uint8Array(BS);
  const cdv = header(cpm, 1, XID, 0x4000000c);
  cdv.setUint32(32, 1, true);
  space.put(0, nx(0));
  space.put(1, sealObject(cpm));
  space.put(2, nx(2));
  const out = new Uint8Array(blockCount * BS);
  for (const [p, b] of space.blocks) out.set(b, p * BS);
  return out;
}
