/**
 * A `.sparseimage` index node: 4 KiB, signature `sprs`, holding the next 1,010 band entries
 * once the header's are used up. Its bands follow it in the file; `next` chains the next node.
 */
import { ByteWriter, CorruptImageError, Parser, u64 } from '@diskit/core';
import { NODE_SIZE, SPRS } from './header.js';

/** Band entries in an index node: (4096 − 56) / 4. */
export const INDEX_SLOTS = 0x3f2;

export interface IndexNode {
  /** 0 for the first index node after the header, then 1, 2, … */
  number: number;
  flags: number;
  /** File offset of the next index node; 0 at the end of the chain. */
  next: number;
  /** 1-based band numbers, one per band slot after this node; 0 = unused. */
  bands: number[];
}

const indexParser = new Parser()
  .endianness('big')
  .string('signature', { length: 4, encoding: 'latin1' })
  .uint32('number')
  .uint32('flags')
  .uint64('next')
  .skip(36)
  .array('bands', { type: 'uint32be', length: INDEX_SLOTS });

/** Decode an index node found at file offset `at` (for messages). */
export function parseIndexNode(b: Uint8Array, at: number): IndexNode {
  if (b.length < NODE_SIZE) throw new CorruptImageError('sparseimage index node', at, `${NODE_SIZE} bytes`, `${b.length}`);
  const r = indexParser.parse(b.subarray(0, NODE_SIZE)) as Record<string, any>;
  if (r.signature !== SPRS) throw new CorruptImageError('sparseimage index node', at, 'signature "sprs"', JSON.stringify(r.signature));
  return { number: r.number, flags: r.flags, next: u64(r.next, 'sparseimage index node next', at + 12), bands: r.bands };
}

export function encodeIndexNode(n: IndexNode): Uint8Array {
  const w = new ByteWriter(NODE_SIZE).ascii(0, SPRS).u32be(4, n.number).u32be(8, n.flags).u64be(12, n.next);
  n.bands.slice(0, INDEX_SLOTS).forEach((b, i) => w.u32be(56 + i * 4, b));
  return w.bytes;
}
