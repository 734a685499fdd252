/**
 * The band index of a `.sparseimage`, read from the header and its chain of index nodes: which
 * file offset holds each band of the disk. Band slots sit in file order right after the node
 * that lists them (slot k of the node at N is at N + 4096 + k × bandSize); a band never listed
 * is a hole.
 */
import { CorruptImageError, TruncatedImageError, readBytes, type BlockDevice } from '@diskit/core';
import { NODE_SIZE, type SparseHeader } from './header.js';
import { parseIndexNode, type IndexNode } from './index-node.js';

/** Where one node of the index sits and how many slots it uses. */
export interface NodePlace {
  offset: number;
  /** -1 for the header node, else the node's own number. */
  number: number;
  flags: number;
  /** Slots with a band (non-zero entries). */
  used: number;
  /** One past the last used slot: the node's bands end at offset + 4096 + span × bandSize. */
  span: number;
}

/** Bands of the disk with a file offset, sorted by band number: binary-searched, never one entry per disk band. */
export class BandMap {
  constructor(
    readonly bandSize: number,
    /** 0-based band numbers of the disk, ascending. */
    readonly bands: Float64Array,
    /** File offset of each band in `bands`. */
    readonly offsets: Float64Array,
  ) {}

  get count(): number {
    return this.bands.length;
  }

  /** Index of the first mapped band ≥ `band`. */
  lowerBound(band: number): number {
    let lo = 0;
    let hi = this.bands.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.bands[mid]! < band) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** File offset of `band`, or -1 for a hole. */
  offsetOf(band: number): number {
    const i = this.lowerBound(band);
    return i < this.bands.length && this.bands[i] === band ? this.offsets[i]! : -1;
  }
}

/**
 * Walk the header and the index chain. Refused as corrupt: a node outside the file or not past
 * the previous node's bands (which also stops loops), a band number past the disk, a band listed
 * twice, a band slot past the end of the file.
 */
export async function readBandMap(file: BlockDevice, header: SparseHeader, diskSize: number): Promise<{ map: BandMap; nodes: NodePlace[] }> {
  const bandSize = header.sectorsPerBand * 512;
  const bandCount = Math.ceil(diskSize / bandSize);
  const bands: number[] = [];
  const offsets: number[] = [];
  const nodes: NodePlace[] = [];
  const seen = new Set<number>();

  const take = (entries: number[], at: number, node: Omit<NodePlace, 'used' | 'span'>, entryBase: number) => {
    let used = 0;
    let span = 0;
    entries.forEach((v, k) => {
      if (v === 0) return;
      const band = v - 1;
      const where = node.offset + entryBase + k * 4;
      if (band >= bandCount) throw new CorruptImageError('sparseimage band index entry', where, `a band number from 1 to ${bandCount}`, String(v));
      if (seen.has(band)) throw new CorruptImageError('sparseimage band index entry', where, 'each band listed once', `band ${v} again`);
      const pos = at + k * bandSize;
      const needed = Math.min(bandSize, diskSize - band * bandSize);
      if (pos + needed > file.size) throw new TruncatedImageError(`sparseimage band ${v}`, pos, needed, file.size);
      seen.add(band);
      bands.push(band);
      offsets.push(pos);
      used++;
      span = k + 1;
    });
    nodes.push({ ...node, used, span });
  };

  take(header.bands, NODE_SIZE, { offset: 0, number: -1, flags: header.flags }, 64);
  let next = header.nextIndexNode;
  while (next !== 0) {
    const prev = nodes[nodes.length - 1]!;
    const after = prev.offset + NODE_SIZE + prev.span * bandSize;
    if (next < after) throw new CorruptImageError('sparseimage index chain', prev.offset, `the next index node at or after ${after}`, String(next));
    if (next + NODE_SIZE > file.size) throw new TruncatedImageError('sparseimage index node', next, NODE_SIZE, file.size);
    const node: IndexNode = parseIndexNode(await readBytes(file, next, NODE_SIZE), next);
    take(node.bands, next + NODE_SIZE, { offset: next, number: node.number, flags: node.flags }, 56);
    next = node.next;
  }

  const order = bands.map((_, i) => i).sort((a, b) => bands[a]! - bands[b]!);
  return {
    map: new BandMap(bandSize, Float64Array.from(order, (i) => bands[i]!), Float64Array.from(order, (i) => offsets[i]!)),
    nodes,
  };
}
