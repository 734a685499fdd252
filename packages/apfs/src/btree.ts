/**
 * APFS B-trees (btree_node_phys_t): node layout, the table of contents, and ordered range scans.
 * Physical trees (the object maps) point at children by block address; virtual trees (a volume's
 * file-system tree) by virtual id, resolved through an object map.
 */
import { CorruptImageError, UnsupportedFeatureError, type BlockDevice } from '@diskit/core';
import { u64, verifyObject, view, T_BTREE, T_BTREE_NODE } from './object.js';

export const BTNODE_ROOT = 0x1;
export const BTNODE_LEAF = 0x2;
export const BTNODE_FIXED_KV_SIZE = 0x4;
export const BTNODE_HASHED = 0x8;
const BTNODE_NOHEADER = 0x10;
const BTREE_INFO_SIZE = 40;
const BTOFF_INVALID = 0xffff;
/** Deeper than any real tree (a 4 KiB-node tree of depth 12 would hold more entries than any disk). */
export const MAX_DEPTH = 12;

export interface BtreeInfo {
  flags: number;
  nodeSize: number;
  keySize: number;
  valSize: number;
  keyCount: number;
  nodeCount: number;
}

export interface BtNode {
  /** Byte offset of the node in the container, for messages. */
  offset: number;
  flags: number;
  level: number;
  nkeys: number;
  bytes: Uint8Array;
  /** Table of contents start, key area start, value area end (all node-relative). */
  toc: number;
  keys: number;
  vals: number;
  /** Root nodes carry the tree's btree_info_t at their end. */
  info?: BtreeInfo;
  fixedKey: number;
  fixedVal: number;
  /** A view of `bytes`, made once. */
  dv: DataView;
}

/** Parse a node's header and check its table of contents lies inside the node. */
export function parseNode(bytes: Uint8Array, offset: number, fixed?: { key: number; val: number }): BtNode {
  const dv = view(bytes);
  const flags = dv.getUint16(32, true);
  const level = dv.getUint16(34, true);
  const nkeys = dv.getUint32(36, true);
  const tocOff = dv.getUint16(40, true);
  const tocLen = dv.getUint16(42, true);
  const bad = (expected: string, found: string) => new CorruptImageError('B-tree node', offset, expected, found);
  if (flags & BTNODE_NOHEADER) throw bad('a node with an object header', `flags 0x${flags.toString(16)}`);
  const isLeaf = (flags & BTNODE_LEAF) !== 0;
  if (isLeaf !== (level === 0)) throw bad('the leaf flag set exactly on level 0', `flags 0x${flags.toString(16)}, level ${level}`);
  if (level >= MAX_DEPTH) throw bad(`a level below ${MAX_DEPTH}`, String(level));
  const toc = 56 + tocOff;
  const keys = toc + tocLen;
  let vals = bytes.length;
  let info: BtreeInfo | undefined;
  if (flags & BTNODE_ROOT) {
    vals -= BTREE_INFO_SIZE;
    const i = vals;
    info = {
      flags: dv.getUint32(i, true),
      nodeSize: dv.getUint32(i + 4, true),
      keySize: dv.getUint32(i + 8, true),
      valSize: dv.getUint32(i + 12, true),
      keyCount: u64(dv, i + 24, 'B-tree key count', offset),
      nodeCount: u64(dv, i + 32, 'B-tree node count', offset),
    };
    if (info.nodeSize !== bytes.length) throw new UnsupportedFeatureError(`B-tree at ${offset}: node size ${info.nodeSize} differs from the block size ${bytes.length}`);
  }
  const fixedKv = (flags & BTNODE_FIXED_KV_SIZE) !== 0;
  const entry = fixedKv ? 4 : 8;
  if (keys > vals || nkeys * entry > tocLen) throw bad(`a table of contents of ${nkeys} entries inside the node`, `${tocLen} bytes at ${tocOff}`);
  const fk = fixedKv ? (info?.keySize ?? fixed?.key ?? 0) : 0;
  const fvLeaf = fixedKv ? (info?.valSize ?? fixed?.val ?? 0) : 0;
  if (fixedKv && (fk === 0 || fvLeaf === 0)) throw bad('fixed key and value sizes from the tree', 'none');
  return { offset, flags, level, nkeys, bytes, toc, keys, vals, info, fixedKey: fk, fixedVal: level === 0 ? fvLeaf : 8, dv };
}

/** Key `i` of a node (a view into it). */
export function nodeKey(n: BtNode, i: number): Uint8Array {
  const dv = n.dv;
  let off: number, len: number;
  if (n.fixedKey) {
    off = dv.getUint16(n.toc + i * 4, true);
    len = n.fixedKey;
  } else {
    off = dv.getUint16(n.toc + i * 8, true);
    len = dv.getUint16(n.toc + i * 8 + 2, true);
  }
  const s = n.keys + off;
  if (s + len > n.vals) throw new CorruptImageError('B-tree key', n.offset + n.toc + i * (n.fixedKey ? 4 : 8), `a key inside the key area (node bytes ${n.keys}..${n.vals})`, `${len} bytes at ${s}`);
  return n.bytes.subarray(s, s + len);
}

/** Value `i` of a node, or undefined for a key without a value. */
export function nodeVal(n: BtNode, i: number): Uint8Array | undefined {
  const dv = n.dv;
  let off: number, len: number;
  if (n.fixedKey) {
    off = dv.getUint16(n.toc + i * 4 + 2, true);
    len = n.fixedVal;
  } else {
    off = dv.getUint16(n.toc + i * 8 + 4, true);
    len = dv.getUint16(n.toc + i * 8 + 6, true);
  }
  if (off === BTOFF_INVALID) return undefined;
  const s = n.vals - off;
  if (s < n.keys || off < len) throw new CorruptImageError('B-tree value', n.offset + n.toc + i * (n.fixedKey ? 4 : 8), `a value inside the value area (node bytes ${n.keys}..${n.vals})`, `${len} bytes at ${s}`);
  return n.bytes.subarray(s, s + len);
}

/** Blocks read ahead at once: B-tree nodes written together sit together. */
const WINDOW_BLOCKS = 64;
const WINDOWS = 32;

/** Reads and caches B-tree nodes of one container: a bounded LRU keyed by block address. */
export class NodeStore {
  private cache = new Map<number, BtNode>();
  private windows = new Map<number, Uint8Array>();
  constructor(
    readonly dev: BlockDevice,
    readonly blockSize: number,
    readonly blockCount: number,
    /** The checkpoint's transaction: no object may be newer. */
    readonly maxXid: number,
    private readonly capacity = 1024,
  ) {}

  async node(paddr: number, what: string, opts: { subtype: number; oid?: number; fixed?: { key: number; val: number } }): Promise<BtNode> {
    const hit = this.cache.get(paddr);
    if (hit) {
      this.cache.delete(paddr);
      this.cache.set(paddr, hit);
      return hit;
    }
    if (paddr >= this.blockCount) throw new CorruptImageError(what, paddr * this.blockSize, `a block inside the container (${this.blockCount} blocks)`, `block ${paddr}`);
    const bytes = await this.block(paddr);
    const hdr = verifyObject(bytes, paddr * this.blockSize, what, { subtype: opts.subtype, oid: opts.oid ?? paddr, maxXid: this.maxXid });
    if (hdr.type !== T_BTREE && hdr.type !== T_BTREE_NODE) throw new CorruptImageError(what, paddr * this.blockSize, 'a B-tree node object', `type 0x${hdr.type.toString(16)}`);
    const n = parseNode(bytes, paddr * this.blockSize, opts.fixed);
    if ((hdr.type === T_BTREE) !== ((n.flags & BTNODE_ROOT) !== 0)) throw new CorruptImageError(what, n.offset, 'the root flag set exactly on the root object', `type 0x${hdr.type.toString(16)}, flags 0x${n.flags.toString(16)}`);
    this.cache.set(paddr, n);
    if (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value!);
    return n;
  }

  /** One block (a copy), through a small cache of read-ahead windows. */
  private async block(paddr: number): Promise<Uint8Array> {
    const bs = this.blockSize;
    const w = Math.floor(paddr / WINDOW_BLOCKS) * WINDOW_BLOCKS;
    let win = this.windows.get(w);
    if (win) {
      this.windows.delete(w);
      this.windows.set(w, win);
    } else {
      const blocks = Math.min(WINDOW_BLOCKS, this.blockCount - w, Math.floor(this.dev.size / bs) - w);
      if (paddr >= w + blocks) throw new CorruptImageError('B-tree node', paddr * bs, `a block inside the device (${this.dev.size} bytes)`, `block ${paddr}`);
      win = new Uint8Array(blocks * bs);
      await this.dev.read(win, w * bs);
      this.windows.set(w, win);
      if (this.windows.size > WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    }
    return win.slice((paddr - w) * bs, (paddr - w + 1) * bs);
  }
}

/** Where a key lies relative to the range being scanned: < 0 before it, 0 inside, > 0 after. */
export type KeyRange = (key: Uint8Array) => number;

/** Resolves a child pointer (a virtual id for virtual trees) to a block address. */
export type ChildResolver = (oid: number) => Promise<number>;

export class BTree {
  private fixed?: { key: number; val: number };
  constructor(
    readonly store: NodeStore,
    /** The root's block address (physical trees) or virtual id (virtual trees). */
    readonly rootId: number,
    readonly name: string,
    readonly subtype: number,
    /** Undefined for physical trees: child pointers are block addresses. */
    private readonly resolve?: ChildResolver,
  ) {}

  private async load(oid: number, expectLevel: number | undefined): Promise<BtNode> {
    const paddr = this.resolve ? await this.resolve(oid) : oid;
    const n = await this.store.node(paddr, `${this.name} B-tree node`, { subtype: this.subtype, oid, fixed: this.fixed });
    if (expectLevel === undefined) {
      if (!n.info) throw new CorruptImageError(`${this.name} B-tree root`, n.offset, 'a root node', `flags 0x${n.flags.toString(16)}`);
      if (n.flags & BTNODE_HASHED) throw new UnsupportedFeatureError(`${this.name} B-tree with hashed nodes (a sealed volume) is not supported`);
      this.fixed = { key: n.info.keySize, val: n.info.valSize };
    } else if (n.level !== expectLevel || n.info) {
      // Levels fall by exactly one on the way down: a pointer back up (a cycle) cannot pass this.
      throw new CorruptImageError(`${this.name} B-tree node`, n.offset, `a non-root node at level ${expectLevel}`, `level ${n.level}${n.info ? ' (a root)' : ''}`);
    }
    return n;
  }

  async root(): Promise<BtNode> {
    return this.load(this.rootId, undefined);
  }

  /** Every (key, value, offset of its node) whose key the range places at 0, in tree order. */
  async *range(range: KeyRange): AsyncGenerator<Entry> {
    for await (const batch of this.rangeBatches(range)) yield* batch;
  }

  /** The same entries, one leaf's worth at a time (an await per leaf, not per entry). */
  async *rangeBatches(range: KeyRange): AsyncGenerator<Entry[]> {
    const seen = new Set<number>();
    const stack: { n: BtNode; i: number }[] = [];
    const root = await this.root();
    stack.push({ n: root, i: firstChild(root, range) });
    seen.add(root.offset);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const n = top.n;
      if (n.level === 0) {
        stack.pop();
        const batch: Entry[] = [];
        let done = false;
        for (let i = top.i; i < n.nkeys; i++) {
          const key = nodeKey(n, i);
          const c = range(key);
          if (c < 0) continue;
          if (c > 0) {
            done = true;
            break;
          }
          batch.push([key, nodeVal(n, i), n.offset]);
        }
        if (batch.length) yield batch;
        if (done) return;
        continue;
      }
      if (top.i >= n.nkeys) {
        stack.pop();
        continue;
      }
      const i = top.i++;
      // A child's keys start at its separator: once a separator is past the range, so is the rest.
      if (range(nodeKey(n, i)) > 0) return;
      const v = nodeVal(n, i);
      if (!v || v.length < 8) throw new CorruptImageError(`${this.name} B-tree index entry`, n.offset, 'a child pointer', 'none');
      const child = await this.load(u64(view(v), 0, 'child pointer', n.offset), n.level - 1);
      if (seen.has(child.offset)) throw new CorruptImageError(`${this.name} B-tree node`, child.offset, 'each node reached once', 'a node reached twice (a loop)');
      seen.add(child.offset);
      stack.push({ n: child, i: firstChild(child, range) });
    }
  }
}

/** One B-tree entry: key, value (none for a ghost) and the byte offset of its node. */
export type Entry = [key: Uint8Array, value: Uint8Array | undefined, nodeOffset: number];

/** Index of the first entry to visit: in an index node the last separator before the range, in a leaf the first key not before it. */
function firstChild(n: BtNode, range: KeyRange): number {
  let lo = 0, hi = n.nkeys;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (range(nodeKey(n, mid)) < 0) lo = mid + 1;
    else hi = mid;
  }
  return n.level === 0 ? lo : Math.max(0, lo - 1);
}

