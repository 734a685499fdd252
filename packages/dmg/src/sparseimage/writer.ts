/**
 * Writing a `.sparseimage` the way hdiutil lays one out: the 4 KiB header, then bands in the
 * order they are first written, each band slot listed in the header (1,008 slots) and then in
 * index nodes placed where the next band would go (1,010 slots each). Only bands holding
 * non-zero bytes are allocated; inside a band only the non-zero runs are written, so the rest
 * stays a hole in the host file too.
 */
import { UsageError, type BlockDevice, type CreateOptions, type ImageSink } from '@diskit/core';
import { HEADER_SLOTS, NODE_SIZE, SPRS_SECTOR, encodeSparseHeader } from './header.js';
import { INDEX_SLOTS, encodeIndexNode } from './index-node.js';
import { parseBandOptions, pumpBands } from '../bands.js';

/** hdiutil's default band: 2,048 sectors (1 MiB). */
export const DEFAULT_SPARSE_BAND = 1 << 20;

/** One index node being filled: its file offset and the band numbers (1-based) of its slots. */
interface OpenNode {
  offset: number;
  slots: number[];
  capacity: number;
}

export async function createSparseImage(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const { bandSize } = parseBandOptions(opts.options, 'sparseimage', DEFAULT_SPARSE_BAND, 1 << 30);
  const sectorCount = Math.ceil(source.size / SPRS_SECTOR);
  if (Math.ceil(source.size / bandSize) > 0xffffffff) throw new UsageError('sparseimage: more than 2^32 bands; use a larger band-size');

  const nodes: OpenNode[] = [{ offset: 0, slots: [], capacity: HEADER_SLOTS }];
  const bandAt = new Map<number, number>();
  let fileEnd = NODE_SIZE;

  /** The file offset of `band`, given a slot (and a new index node when the last is full) on first use. */
  const place = (band: number): number => {
    let at = bandAt.get(band);
    if (at !== undefined) return at;
    let node = nodes[nodes.length - 1]!;
    if (node.slots.length === node.capacity) {
      node = { offset: fileEnd, slots: [], capacity: INDEX_SLOTS };
      nodes.push(node);
      fileEnd += NODE_SIZE;
    }
    node.slots.push(band + 1);
    at = fileEnd;
    fileEnd += bandSize;
    bandAt.set(band, at);
    return at;
  };

  await pumpBands(source, bandSize, (band, inBand, piece) => sink.write(piece, place(band) + inBand), opts.onProgress);

  const next = (i: number) => nodes[i + 1]?.offset ?? 0;
  await sink.write(encodeSparseHeader({ version: 3, sectorsPerBand: bandSize / SPRS_SECTOR, flags: 1, sectorCount, nextIndexNode: next(0), bands: nodes[0]!.slots }), 0);
  for (let i = 1; i < nodes.length; i++) {
    await sink.write(encodeIndexNode({ number: i - 1, flags: 1, next: next(i), bands: nodes[i]!.slots }), nodes[i]!.offset);
  }
  await sink.truncate(fileEnd);
  await sink.flush?.();
}
