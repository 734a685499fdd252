/** Writing VHDXs: fixed and dynamic from a source device, and empty differencing children. */
import { UsageError, pumpDataRuns, randomGuid, type BlockDevice, type CreateOptions, type Image, type ImageSink } from '@diskit/core';
import { blocksInArrivalOrder, checkKeys, encodeUtf16, isPow2, parseSize, roundUp } from '../util.js';
import { GUIDS, KiB, MiB, VHDX_HEADER_OFFSETS, VHDX_REGION_OFFSETS, ZERO_GUID } from './layout.js';
import { encodeVhdxHeader, type VhdxHeader } from './header.js';
import { encodeRegionTable } from './region-table.js';
import { encodeMetadata } from './metadata.js';
import { FULLY_PRESENT, batEntries, batIndexOf, chunkRatioOf, setBatEntry } from './bat.js';
import { encodeParentLocator } from './parent-locator.js';
import { VhdxImage } from './image.js';

export interface VhdxCreateParams {
  subformat: 'fixed' | 'dynamic';
  blockSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  size: number;
  /** Log region size (default 1 MiB). */
  logSize?: number;
}

export function vhdxCreateParams(sourceSize: number, options: Record<string, string> = {}): VhdxCreateParams {
  checkKeys('vhdx', options, ['subformat', 'block_size', 'logical_sector_size', 'physical_sector_size', 'log_size']);
  const logSize = options.log_size ? parseSize('log_size', options.log_size) : MiB;
  if (logSize < MiB || logSize % MiB || logSize > 256 * MiB) throw new UsageError('vhdx: -o log_size must be a multiple of 1M from 1M to 256M');
  const subformat = (options.subformat ?? 'dynamic') as 'fixed' | 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw new UsageError(`vhdx: -o subformat must be fixed or dynamic (got '${options.subformat}')`);
  const blockSize = options.block_size ? parseSize('block_size', options.block_size) : 32 * MiB;
  if (!isPow2(blockSize) || blockSize < MiB || blockSize > 256 * MiB) throw new UsageError('vhdx: -o block_size must be a power of two from 1M to 256M');
  const logicalSectorSize = options.logical_sector_size ? parseSize('logical_sector_size', options.logical_sector_size) : 512;
  const physicalSectorSize = options.physical_sector_size ? parseSize('physical_sector_size', options.physical_sector_size) : 4096;
  for (const [k, v] of [['logical_sector_size', logicalSectorSize], ['physical_sector_size', physicalSectorSize]] as const) {
    if (v !== 512 && v !== 4096) throw new UsageError(`vhdx: -o ${k} must be 512 or 4096`);
  }
  const size = roundUp(sourceSize, logicalSectorSize);
  if (size > 64 * 2 ** 40) throw new UsageError('vhdx: larger than the 64 TiB limit');
  return { subformat, blockSize, logicalSectorSize, physicalSectorSize, size, logSize };
}

/** The fixed part of a new VHDX (first 3 MiB + BAT): identifier, headers, region tables, metadata. */
function vhdxLayout(p: VhdxCreateParams, differencing = false) {
  const payload = Math.ceil(p.size / p.blockSize);
  const chunkRatio = chunkRatioOf(p.logicalSectorSize, p.blockSize);
  const entries = batEntries(payload, chunkRatio, differencing);
  const logOffset = MiB;
  const logLength = p.logSize ?? MiB;
  const metaOffset = logOffset + logLength;
  const metaLength = MiB;
  const batOffset = metaOffset + metaLength;
  const batLength = roundUp(Math.max(entries * 8, 1), MiB);
  const dataStart = batOffset + batLength;
  return { payload, chunkRatio, entries, logOffset, logLength, metaOffset, metaLength, batOffset, batLength, dataStart };
}

async function writeVhdxSkeleton(sink: ImageSink, p: VhdxCreateParams, L: ReturnType<typeof vhdxLayout>, leaveAllocated: boolean, parentLocator?: Uint8Array, diskId?: string): Promise<void> {
  const fid = new Uint8Array(64 * KiB);
  fid.set(new TextEncoder().encode('vhdxfile'));
  fid.set(encodeUtf16('diskit', true), 8);
  await sink.write(fid, 0);
  const h: VhdxHeader = {
    signature: 'head', checksum: 0, sequenceNumber: 1n, fileWriteGuid: randomGuid(), dataWriteGuid: randomGuid(),
    logGuid: ZERO_GUID, logVersion: 0, version: 1, logLength: L.logLength, logOffset: L.logOffset,
  };
  await sink.write(encodeVhdxHeader(h), VHDX_HEADER_OFFSETS[0]);
  await sink.write(encodeVhdxHeader({ ...h, sequenceNumber: 2n }), VHDX_HEADER_OFFSETS[1]);
  const rt = encodeRegionTable([
    { guid: GUIDS.bat, fileOffset: L.batOffset, length: L.batLength, required: true },
    { guid: GUIDS.metadata, fileOffset: L.metaOffset, length: L.metaLength, required: true },
  ]);
  await sink.write(rt, VHDX_REGION_OFFSETS[0]);
  await sink.write(rt, VHDX_REGION_OFFSETS[1]);
  await sink.write(encodeMetadata(p, leaveAllocated, parentLocator, diskId), L.metaOffset);
}

/** Write `source` as a VHDX: fixed (every block present, in order) or dynamic (blocks only where data is). */
export async function createVhdx(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const p = vhdxCreateParams(source.size, opts.options);
  const L = vhdxLayout(p);
  const bs = p.blockSize;
  await writeVhdxSkeleton(sink, p, L, p.subformat === 'fixed');
  const bat = new Uint8Array(L.entries * 8);
  const bv = new DataView(bat.buffer);
  const setEntry = (blk: number, state: number, fileOffset: number) => setBatEntry(bv, batIndexOf(blk, L.chunkRatio), state, fileOffset);
  let end: number;
  if (p.subformat === 'fixed') {
    for (let b = 0; b < L.payload; b++) setEntry(b, FULLY_PRESENT, L.dataStart + b * bs);
    await pumpDataRuns(source, (data, offset) => sink.write(data, L.dataStart + offset), { onProgress: opts.onProgress, ordered: false });
    end = L.dataStart + L.payload * bs;
  } else {
    let next = L.dataStart;
    const consume = blocksInArrivalOrder(sink, bs, (blk) => {
      setEntry(blk, FULLY_PRESENT, next);
      next += bs;
      return next - bs;
    });
    await pumpDataRuns(source, consume, { onProgress: opts.onProgress });
    end = next;
  }
  await sink.write(bat, L.batOffset);
  await sink.truncate(end);
  // No flush here: like qemu-img convert (cache=unsafe), syncing is the caller's choice (AtomicOutput.commit({sync})).
}

/**
 * Create an empty differencing VHDX whose parent is `parent` (an opened VHDX image) stored under
 * `parentPath` relative to the child's folder. Open the child with `writable: true` to write into it.
 */
export async function createDifferencingVhdx(parentPath: string, parent: Image, sink: ImageSink, opts: { absolutePath?: string } = {}): Promise<void> {
  if (!(parent instanceof VhdxImage)) throw new UsageError(`the parent of a differencing VHDX must be a VHDX image (got ${parent.format})`);
  const p: VhdxCreateParams = { subformat: 'dynamic', blockSize: parent.blockSize, logicalSectorSize: parent.logicalSectorSize, physicalSectorSize: parent.physicalSectorSize, size: parent.size };
  const L = vhdxLayout(p, true);
  const entries: Record<string, string> = {
    parent_linkage: `{${parent.header.dataWriteGuid.toLowerCase()}}`,
    relative_path: '.\\' + parentPath.replace(/\//g, '\\').replace(/^\.\\/, ''),
  };
  if (opts.absolutePath) entries.absolute_win32_path = opts.absolutePath.replace(/\//g, '\\');
  await writeVhdxSkeleton(sink, p, L, false, encodeParentLocator(entries));
  await sink.write(new Uint8Array(L.entries * 8), L.batOffset);
  await sink.truncate(L.dataStart);
}
