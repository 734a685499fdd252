/** Object maps (omap_phys_t): virtual object id + transaction → block address, through a physical B-tree. */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { BTree, type NodeStore } from './btree.js';
import { readObject, u64, view, T_OMAP } from './object.js';

const OMAP_VAL_DELETED = 0x1;
const OMAP_VAL_ENCRYPTED = 0x4;
const OMAP_VAL_NOHEADER = 0x8;
const CACHE = 4096;

export interface OmapValue {
  flags: number;
  size: number;
  paddr: number;
}

/** A little-endian u64 read byte by byte (ids past 2^53 lose precision but keep their order). */
function le53(b: Uint8Array, at: number): number {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
  return hi * 0x100000000 + lo;
}

export class ObjectMap {
  private readonly tree: BTree;
  private cache = new Map<string, number>();
  private constructor(
    readonly store: NodeStore,
    readonly paddr: number,
    readonly treeAddr: number,
    readonly snapCount: number,
    readonly name: string,
  ) {
    this.tree = new BTree(store, treeAddr, `${name} object map`, T_OMAP);
  }

  static async open(store: NodeStore, paddr: number, name: string): Promise<ObjectMap> {
    if (paddr >= store.blockCount) throw new CorruptImageError(`${name} object map`, paddr * store.blockSize, `a block inside the container (${store.blockCount} blocks)`, `block ${paddr}`);
    const { bytes } = await readObject(store.dev, store.blockSize, paddr, `${name} object map`, { type: T_OMAP, oid: paddr, maxXid: store.maxXid });
    const dv = view(bytes);
    const at = paddr * store.blockSize;
    const treeType = dv.getUint32(40, true);
    if ((treeType & 0xffff) !== 0x2 || (treeType & 0x40000000) === 0) {
      throw new CorruptImageError(`${name} object map`, at + 40, 'a physical B-tree (type 0x40000002)', `0x${treeType.toString(16)}`);
    }
    return new ObjectMap(store, paddr, u64(dv, 48, 'object map tree address', at), dv.getUint32(36, true), name);
  }

  /** The newest mapping of `oid` not after transaction `xid`. */
  async lookup(oid: number, xid: number): Promise<OmapValue | undefined> {
    let best: Uint8Array | undefined;
    for await (const [, v] of this.tree.range((key) => {
      const ko = le53(key, 0);
      if (ko !== oid) return ko < oid ? -1 : 1;
      return le53(key, 8) > xid ? 1 : 0;
    })) {
      best = v;
    }
    if (!best || best.length < 16) return undefined;
    const dv = view(best);
    return { flags: dv.getUint32(0, true), size: dv.getUint32(4, true), paddr: u64(dv, 8, 'object map value', 0) };
  }

  /** The block address of virtual object `oid` at `xid`; a missing or deleted mapping is corruption. */
  async resolve(oid: number, xid: number, what: string): Promise<number> {
    const key = `${oid}:${xid}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const v = await this.lookup(oid, xid);
    if (!v || v.flags & OMAP_VAL_DELETED) {
      throw new CorruptImageError(`${this.name} object map`, this.paddr * this.store.blockSize, `a mapping for ${what} (virtual id ${oid}) at transaction ${xid}`, v ? 'a deleted mapping' : 'none');
    }
    if (v.flags & OMAP_VAL_ENCRYPTED) throw new UnsupportedFeatureError(`${what}: encrypted APFS objects are not supported`);
    if (v.flags & OMAP_VAL_NOHEADER) throw new UnsupportedFeatureError(`${what}: APFS objects without headers are not supported`);
    if (v.paddr === 0 || v.paddr >= this.store.blockCount) {
      throw new CorruptImageError(`${this.name} object map`, this.paddr * this.store.blockSize, `a block inside the container for virtual id ${oid}`, `block ${v.paddr}`);
    }
    if (this.cache.size >= CACHE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, v.paddr);
    return v.paddr;
  }
}
