/**
 * Allocation descriptors (ECMA-167 4/14.14): short, long and extended forms, continued through
 * Allocation Extent Descriptors. The result is a file's extents in file order.
 */
import { CorruptImageError } from '@diskit/core';
import { AD } from './file-entry.js';
import { TAG, dv, readTag } from './tag.js';

export interface FileExtent {
  /** Offset in the file. */
  at: number;
  length: number;
  /** recorded: data on disc; allocated (not recorded) and sparse both read as zeros. */
  kind: 'recorded' | 'allocated' | 'sparse';
  partitionRef: number;
  block: number;
}

/** Reads a logical block of a partition reference: how continuations are followed. */
export type BlockReader = (partitionRef: number, block: number, length: number) => Promise<{ bytes: Uint8Array; offset: number }>;

const MAX_EXTENTS = 1 << 20;
const MAX_CONTINUATIONS = 1 << 16;

export async function fileExtents(ads: Uint8Array, adType: number, ownPartition: number, size: number, readBlock: BlockReader, where: number): Promise<FileExtent[]> {
  const out: FileExtent[] = [];
  const seen = new Set<string>();
  let at = 0;
  let chunk = ads;
  let chunkOffset = where;
  for (let hops = 0; ; hops++) {
    const step = adType === AD.SHORT ? 8 : adType === AD.LONG ? 16 : 20;
    let next: { partitionRef: number; block: number; length: number } | undefined;
    for (let i = 0; i + step <= chunk.length; i += step) {
      const v = dv(chunk.subarray(i));
      const raw = v.getUint32(0, true);
      const type = raw >>> 30;
      const length = raw & 0x3fffffff;
      if (length === 0) break; // the list ends at a zero length
      let block: number;
      let partitionRef = ownPartition;
      if (adType === AD.SHORT) block = v.getUint32(4, true);
      else if (adType === AD.LONG) {
        block = v.getUint32(4, true);
        partitionRef = v.getUint16(8, true);
      } else {
        block = v.getUint32(12, true);
        partitionRef = v.getUint16(16, true);
      }
      if (type === 3) {
        next = { partitionRef, block, length };
        break;
      }
      if (out.length >= MAX_EXTENTS) throw new CorruptImageError('UDF allocation descriptors', chunkOffset + i, `at most ${MAX_EXTENTS} extents`);
      out.push({ at, length, kind: type === 0 ? 'recorded' : type === 1 ? 'allocated' : 'sparse', partitionRef, block });
      at += length;
    }
    if (!next) break;
    const key = `${next.partitionRef}:${next.block}`;
    if (seen.has(key) || hops >= MAX_CONTINUATIONS) throw new CorruptImageError('UDF allocation extent descriptor', chunkOffset, 'a continuation that does not loop');
    seen.add(key);
    const { bytes, offset } = await readBlock(next.partitionRef, next.block, Math.max(24, next.length));
    readTag(bytes, 'UDF allocation extent descriptor', offset, TAG.AED);
    const lAd = dv(bytes).getUint32(20, true);
    if (24 + lAd > bytes.length) throw new CorruptImageError('UDF allocation extent descriptor', offset, `descriptors within ${bytes.length} bytes`, String(lAd));
    chunk = bytes.subarray(24, 24 + lAd);
    chunkOffset = offset + 24;
  }
  // Extents may be recorded in whole blocks past the file's end: cut them to its size.
  const cut: FileExtent[] = [];
  for (const e of out) {
    if (e.at >= size) break;
    cut.push(e.at + e.length > size ? { ...e, length: size - e.at } : e);
  }
  return cut;
}
