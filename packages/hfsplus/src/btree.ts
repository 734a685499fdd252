/**
 * HFS+ B-trees (catalog, extents overflow, attributes): a header node, index nodes and a doubly
 * linked chain of leaf nodes. Nodes are read on demand through a bounded cache; every descent and
 * every walk along the leaf chain is checked for loops, wrong node kinds and out-of-range links.
 */
import { CorruptImageError } from '@diskit/core';
import type { ForkDevice } from './fork.js';

export const KIND_LEAF = -1;
export const KIND_INDEX = 0;
export const KIND_HEADER = 1;
export const KIND_MAP = 2;

const BIG_KEYS = 2;
const VARIABLE_INDEX_KEYS = 4;
/** Deeper trees than this do not exist on real volumes (a 16-level tree holds more than 2^60 records). */
const MAX_DEPTH = 16;
const CACHE_BYTES = 8 << 20;
/** Nodes are read in windows of this many bytes: a walk along the leaves then costs one read per window. */
const WINDOW_BYTES = 256 << 10;
const WINDOWS = 16;

export interface BTreeHeader {
  depth: number;
  rootNode: number;
  leafRecords: number;
  firstLeafNode: number;
  lastLeafNode: number;
  nodeSize: number;
  maxKeyLength: number;
  totalNodes: number;
  freeNodes: number;
  btreeType: number;
  /** 0xCF case-folding, 0xBC binary (HFSX catalogs only). */
  keyCompareType: number;
  attributes: number;
}

export interface BNode {
  num: number;
  kind: number;
  height: number;
  fLink: number;
  bLink: number;
  bytes: Uint8Array;
  /** numRecords + 1 offsets: record i is bytes[offsets[i], offsets[i+1]). */
  offsets: Uint16Array;
  /** The node's offset in the device. */
  base: number;
}

/** A record's key (with its length field), the data after it, and where it lies in the device. */
export interface BRecord {
  key: Uint8Array;
  data: Uint8Array;
  where: number;
}

/** Decode a node's descriptor and record offsets, checking both against the node size. */
export function parseNode(bytes: Uint8Array, num: number, where: number): BNode {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = bytes.length;
  const n = v.getUint16(10);
  if (14 + 2 * (n + 1) > size) throw new CorruptImageError('HFS+ B-tree node', where + 10, `a record count that fits a ${size}-byte node`, String(n));
  const offsets = new Uint16Array(n + 1);
  let prev = 13;
  for (let i = 0; i <= n; i++) {
    const o = v.getUint16(size - 2 - 2 * i);
    if (o <= prev || o > size - 2 * (n + 1) || (i === 0 && o !== 14)) {
      throw new CorruptImageError('HFS+ B-tree node', where + size - 2 - 2 * i, `record offset ${i} increasing inside the node`, String(o));
    }
    offsets[i] = o;
    prev = o;
  }
  return { num, kind: v.getInt8(8), height: v.getUint8(9), fLink: v.getUint32(0), bLink: v.getUint32(4), bytes, offsets, base: where };
}

export class BTree {
  private cache = new Map<number, BNode>();
  private cacheBytes = 0;
  private windows = new Map<number, Uint8Array>();

  private constructor(
    readonly name: string,
    private readonly fork: ForkDevice,
    readonly header: BTreeHeader,
  ) {}

  static async open(name: string, fork: ForkDevice): Promise<BTree> {
    const where = fork.physical(0);
    if (fork.size < 512) throw new CorruptImageError(`HFS+ ${name} B-tree`, where, 'a header node of at least 512 bytes', `${fork.size} bytes`);
    const head = new Uint8Array(512);
    await fork.read(head, 0);
    const v = new DataView(head.buffer);
    if (v.getInt8(8) !== KIND_HEADER) throw new CorruptImageError(`HFS+ ${name} B-tree header node`, where + 8, 'node kind 1 (header)', String(v.getInt8(8)));
    const h: BTreeHeader = {
      depth: v.getUint16(14), rootNode: v.getUint32(16), leafRecords: v.getUint32(20), firstLeafNode: v.getUint32(24),
      lastLeafNode: v.getUint32(28), nodeSize: v.getUint16(32), maxKeyLength: v.getUint16(34), totalNodes: v.getUint32(36),
      freeNodes: v.getUint32(40), btreeType: v.getUint8(50), keyCompareType: v.getUint8(51), attributes: v.getUint32(52),
    };
    const ns = h.nodeSize;
    if (ns < 512 || ns > 32768 || (ns & (ns - 1)) !== 0) {
      throw new CorruptImageError(`HFS+ ${name} B-tree header`, where + 32, 'a node size that is a power of two in 512..32768', String(ns));
    }
    if (h.totalNodes * ns > fork.size) {
      throw new CorruptImageError(`HFS+ ${name} B-tree header`, where + 36, `${h.totalNodes} nodes of ${ns} bytes inside the ${fork.size}-byte file`, 'more');
    }
    if (h.depth > MAX_DEPTH) throw new CorruptImageError(`HFS+ ${name} B-tree header`, where + 14, `a depth of at most ${MAX_DEPTH}`, String(h.depth));
    if (h.rootNode >= h.totalNodes && h.rootNode !== 0) {
      throw new CorruptImageError(`HFS+ ${name} B-tree header`, where + 16, `a root node below ${h.totalNodes}`, String(h.rootNode));
    }
    return new BTree(name, fork, h);
  }

  get empty(): boolean {
    return this.header.rootNode === 0 || this.header.depth === 0;
  }

  /** Read node `num` (bounded LRU cache). */
  async node(num: number): Promise<BNode> {
    const hit = this.cache.get(num);
    if (hit) {
      this.cache.delete(num);
      this.cache.set(num, hit);
      return hit;
    }
    const ns = this.header.nodeSize;
    const off = num * ns;
    if (num === 0 || num >= this.header.totalNodes) {
      throw new CorruptImageError(`HFS+ ${this.name} B-tree`, this.fork.physical(0), `a node number in 1..${this.header.totalNodes - 1}`, String(num));
    }
    const bytes = await this.nodeBytes(num);
    const node = parseNode(bytes, num, this.fork.physical(off));
    this.cache.set(num, node);
    this.cacheBytes += ns;
    while (this.cacheBytes > CACHE_BYTES) {
      const old = this.cache.keys().next().value!;
      this.cache.delete(old);
      this.cacheBytes -= ns;
    }
    return node;
  }

  /** A node's bytes, from the read-ahead window holding it (read once, kept in a small LRU). */
  private async nodeBytes(num: number): Promise<Uint8Array> {
    const ns = this.header.nodeSize;
    const per = Math.max(1, Math.floor(WINDOW_BYTES / ns));
    const w = Math.floor(num / per);
    let win = this.windows.get(w);
    if (win) {
      this.windows.delete(w);
      this.windows.set(w, win);
    } else {
      const first = w * per;
      const count = Math.min(per, this.header.totalNodes - first);
      win = new Uint8Array(count * ns);
      await this.fork.read(win, first * ns);
      if (this.windows.size >= WINDOWS) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(w, win);
    }
    const at = (num - w * per) * ns;
    return win.subarray(at, at + ns);
  }

  /** The device offset of node `num` (for dumps and fuzz targets). */
  nodeOffset(num: number): number {
    return this.fork.physical(num * this.header.nodeSize);
  }

  /** The device offset of record `i` of a node, for messages (past the first extent of a node that spans two, it is off). */
  where(node: BNode, i = 0): number {
    return node.base + (i < node.offsets.length ? node.offsets[i]! : 0);
  }

  /** Record `i` of a node split into key and data; index records' data is the child pointer. */
  record(node: BNode, i: number): BRecord {
    const s = node.offsets[i]!, e = node.offsets[i + 1]!;
    const b = node.bytes;
    if (e - s < 2) throw new CorruptImageError(`HFS+ ${this.name} B-tree record`, this.where(node, i), 'a record holding a key length', `${e - s} bytes`);
    const big = (this.header.attributes & BIG_KEYS) !== 0;
    const keyLength = big ? (b[s]! << 8) | b[s + 1]! : b[s]!;
    let keySize = (big ? 2 : 1) + keyLength;
    if (node.kind === KIND_INDEX && !(this.header.attributes & VARIABLE_INDEX_KEYS)) keySize = (big ? 2 : 1) + this.header.maxKeyLength;
    if (keySize & 1) keySize++; // records' data starts on an even offset
    if (keyLength > this.header.maxKeyLength || s + keySize > e) {
      throw new CorruptImageError(`HFS+ ${this.name} B-tree record`, this.where(node, i), `a key of at most ${this.header.maxKeyLength} bytes inside the record`, String(keyLength));
    }
    return { key: b.subarray(s, s + keySize), data: b.subarray(s + keySize, e), where: node.base + s };
  }

  private childOf(node: BNode, i: number): number {
    const r = this.record(node, i);
    if (r.data.length < 4) throw new CorruptImageError(`HFS+ ${this.name} B-tree index record`, this.where(node, i), 'a 4-byte child pointer', `${r.data.length} bytes`);
    return ((r.data[0]! << 24) | (r.data[1]! << 16) | (r.data[2]! << 8) | r.data[3]!) >>> 0;
  }

  /**
   * The leaf and record index of the first record whose key is >= the target (`cmp(key)` says how
   * a record's key compares with the target: < 0 below it). Returns null past the last record.
   */
  async seek(cmp: (key: Uint8Array) => number): Promise<{ node: BNode; index: number } | null> {
    if (this.empty) return null;
    let num = this.header.rootNode;
    let height = this.header.depth;
    for (let level = 0; ; level++) {
      const node = await this.node(num);
      const want = height === 1 ? KIND_LEAF : KIND_INDEX;
      if (node.kind !== want || node.height !== height) {
        throw new CorruptImageError(`HFS+ ${this.name} B-tree node`, this.where(node), `kind ${want} at height ${height} (descending from the root)`, `kind ${node.kind}, height ${node.height}`);
      }
      const n = node.offsets.length - 1;
      if (n === 0) throw new CorruptImageError(`HFS+ ${this.name} B-tree node`, this.where(node), 'a node with records', 'none');
      if (node.kind === KIND_LEAF) {
        // Binary search: the first record >= target.
        let lo = 0, hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cmp(this.record(node, mid).key) < 0) lo = mid + 1;
          else hi = mid;
        }
        if (lo < n) return { node, index: lo };
        if (node.fLink === 0) return null;
        const next = await this.nextLeaf(node);
        return { node: next, index: 0 };
      }
      // Index: the last record whose key <= target (or the first when the target is below all).
      let lo = 0, hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (cmp(this.record(node, mid).key) <= 0) lo = mid;
        else hi = mid - 1;
      }
      num = this.childOf(node, lo);
      height--;
      if (height < 1 || level >= MAX_DEPTH) throw new CorruptImageError(`HFS+ ${this.name} B-tree`, this.where(node), `a leaf within depth ${this.header.depth}`, 'deeper');
    }
  }

  /** The leaf after `node`, checked to be a leaf that links back. */
  async nextLeaf(node: BNode): Promise<BNode> {
    const next = await this.node(node.fLink);
    if (next.kind !== KIND_LEAF || next.bLink !== node.num || next.offsets.length < 2) {
      throw new CorruptImageError(`HFS+ ${this.name} B-tree leaf chain`, this.where(next), `a leaf with records linking back to node ${node.num}`, `kind ${next.kind}, back link ${next.bLink}`);
    }
    return next;
  }

  /**
   * Records in key order from the first one >= target while `more(key)` holds. A leaf met twice
   * on the chain is a loop (an error, not an endless or repeating listing).
   */
  async *scan(cmp: (key: Uint8Array) => number, more: (key: Uint8Array) => boolean): AsyncGenerator<BRecord> {
    const at = await this.seek(cmp);
    if (!at) return;
    let { node, index } = at;
    const seen = new Set<number>();
    for (;;) {
      seen.add(node.num);
      const n = node.offsets.length - 1;
      for (let i = index; i < n; i++) {
        const r = this.record(node, i);
        if (!more(r.key)) return;
        yield r;
      }
      if (node.fLink === 0) return;
      if (seen.has(node.fLink)) throw new CorruptImageError(`HFS+ ${this.name} B-tree leaf chain`, this.where(node), 'a chain without loops', `node ${node.fLink} again`);
      node = await this.nextLeaf(node);
      index = 0;
    }
  }
}
