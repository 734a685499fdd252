/**
 * Directory indexes: $INDEX_ROOT (the B+ tree's root node, in the record) and $INDEX_ALLOCATION
 * (INDX buffers for the other nodes), walked in order, with $BITMAP saying which buffers are used.
 */
import { CorruptImageError } from '@diskit/core';
import { u16, u32, mftRef } from './bytes.js';
import { applyFixups } from './fixup.js';
import { parseFileName, type FileName } from './file-name.js';

const ENTRY_HAS_SUBNODE = 1;
const ENTRY_LAST = 2;
const MAX_DEPTH = 32;

export interface IndexEntry {
  record: number;
  seq: number;
  key: FileName;
}

export interface IndexRoot {
  blockSize: number;
  node: Uint8Array;
}

export function parseIndexRoot(v: Uint8Array, offset: number): IndexRoot {
  if (v.length < 0x20) throw new CorruptImageError('NTFS $INDEX_ROOT', offset, 'at least 32 bytes', String(v.length));
  const blockSize = u32(v, 8);
  if (blockSize < 512 || blockSize > 1 << 18 || blockSize & (blockSize - 1)) throw new CorruptImageError('NTFS $INDEX_ROOT', offset + 8, 'an index block size 512..256 KiB, a power of two', String(blockSize));
  return { blockSize, node: v.subarray(0x10) };
}

/** The entries of one node (`h` starts at its index header), and the child VCN before each. */
function parseNode(h: Uint8Array, offset: number): { entries: (IndexEntry | null)[]; children: (number | null)[] } {
  const start = u32(h, 0);
  const used = u32(h, 4);
  if (start < 16 || used > h.length || start >= used) throw new CorruptImageError('NTFS index header', offset, `entries inside the node's ${h.length} bytes`, `${start}..${used}`);
  const entries: (IndexEntry | null)[] = [];
  const children: (number | null)[] = [];
  for (let pos = start; ; ) {
    if (pos + 16 > used) throw new CorruptImageError('NTFS index entry', offset + pos, 'an entry ending the node (flag LAST)', 'the end of the node');
    const len = u16(h, pos + 8);
    const keyLen = u16(h, pos + 10);
    const flags = u16(h, pos + 12);
    if (len < 16 || len & 7 || pos + len > used || 16 + keyLen > len) throw new CorruptImageError('NTFS index entry', offset + pos, `a length 16..${used - pos}, multiple of 8, holding its key`, `${len} (key ${keyLen})`);
    let child: number | null = null;
    if (flags & ENTRY_HAS_SUBNODE) {
      if (len < 24 + (flags & ENTRY_LAST ? 0 : keyLen)) throw new CorruptImageError('NTFS index entry', offset + pos, 'room for a child VCN', String(len));
      const lo = u32(h, pos + len - 8), hi = u32(h, pos + len - 4);
      child = hi * 0x1_0000_0000 + lo;
    }
    children.push(child);
    if (flags & ENTRY_LAST) {
      entries.push(null);
      break;
    }
    const ref = mftRef(h, pos);
    entries.push({ record: ref.record, seq: ref.seq, key: parseFileName(h.subarray(pos + 16, pos + 16 + keyLen), offset + pos + 16) });
    pos += len;
  }
  return { entries, children };
}

export interface IndexSource {
  root: IndexRoot;
  rootOffset: number;
  /** The $INDEX_ALLOCATION buffer at byte `pos` (absent: a small directory). */
  readBlock?: (pos: number, into: Uint8Array) => Promise<number>;
  allocationSize: number;
  bitmap?: Uint8Array;
  /** Bytes per VCN in child pointers: the cluster size, or 512 when index blocks are smaller. */
  vcnSize: number;
}

/** Every entry of a directory index, in collation order; loops, unused or misplaced buffers are errors. */
export async function* walkIndex(src: IndexSource): AsyncGenerator<IndexEntry> {
  const seen = new Set<number>();
  const bs = src.root.blockSize;
  const load = async (vcn: number, depth: number) => {
    const pos = vcn * src.vcnSize;
    const where = `index buffer at VCN ${vcn}`;
    if (!src.readBlock || depth > MAX_DEPTH || !Number.isSafeInteger(pos) || pos + bs > src.allocationSize) {
      throw new CorruptImageError('NTFS directory index', src.rootOffset, `a child ${where} inside the allocation (${src.allocationSize} bytes), depth ≤ ${MAX_DEPTH}`, depth > MAX_DEPTH ? `depth ${depth}` : 'outside');
    }
    const block = pos / bs;
    if (seen.has(block)) throw new CorruptImageError('NTFS directory index', src.rootOffset, `each index buffer once (a tree, not a loop)`, `${where} again`);
    seen.add(block);
    if (src.bitmap && !(src.bitmap[block >> 3]! & (1 << (block & 7)))) throw new CorruptImageError('NTFS index $BITMAP', src.rootOffset, `${where} marked in use`, 'free');
    const buf = new Uint8Array(bs);
    const offset = await src.readBlock(pos, buf);
    const magic = String.fromCharCode(buf[0]!, buf[1]!, buf[2]!, buf[3]!);
    if (magic !== 'INDX') throw new CorruptImageError('NTFS index buffer', offset, "magic 'INDX'", JSON.stringify(magic));
    applyFixups(buf, `NTFS index buffer (VCN ${vcn})`, offset);
    const own = u32(buf, 0x10) + u32(buf, 0x14) * 0x1_0000_0000;
    if (own !== vcn) throw new CorruptImageError('NTFS index buffer', offset + 0x10, `VCN ${vcn}`, String(own));
    return parseNode(buf.subarray(0x18), offset + 0x18);
  };
  // An explicit stack of (node, next entry index) keeps deep trees off the JS call stack.
  const stack = [{ node: parseNode(src.root.node, src.rootOffset), i: 0, descended: false }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i >= top.node.entries.length) {
      stack.pop();
      continue;
    }
    const child = top.node.children[top.i];
    if (child !== null && child !== undefined && !top.descended) {
      top.descended = true;
      stack.push({ node: await load(child, stack.length), i: 0, descended: false });
      continue;
    }
    const e = top.node.entries[top.i];
    top.i++;
    top.descended = false;
    if (e) yield e;
  }
}
