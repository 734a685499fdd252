/** Writing VHDs: fixed and dynamic from a source device, and empty differencing children. */
import { UsageError, pumpDataRuns, randomGuid, type BlockDevice, type CreateOptions, type Image, type ImageSink } from '@diskit/core';
import { baseName, blocksInArrivalOrder, checkKeys, encodeUtf16, isPow2, parseBool, parseSize, roundUp } from '../util.js';
import { VHD_EPOCH, VHD_FOOTER_SIZE, VHD_MAX_GEOMETRY, VHD_MAX_SECTORS, footerBytesOf, vhdGeometry, type VhdFooter } from './footer.js';
import { VHD_HEADER_SIZE, dynamicHeaderFor, headerBytesOf } from './dynamic-header.js';
import { bitmapSizeOf } from './bat.js';
import type { VhdParentLocator } from './parent-locator.js';
import { VhdImage } from './image.js';

export interface VhdCreateParams {
  subformat: 'fixed' | 'dynamic';
  blockSize: number;
  /** Disk size in bytes (a multiple of 512). */
  size: number;
  geometry: { cylinders: number; heads: number; sectorsPerTrack: number };
  creatorApp: string;
}

/** Work out the size, geometry and creator for a source of `sourceSize` bytes. */
export function vhdCreateParams(sourceSize: number, options: Record<string, string> = {}): VhdCreateParams {
  checkKeys('vhd', options, ['subformat', 'block_size', 'chs', 'align', 'force_size']);
  const subformat = (options.subformat ?? 'dynamic') as 'fixed' | 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw new UsageError(`vhd: -o subformat must be fixed or dynamic (got '${options.subformat}')`);
  const blockSize = options.block_size ? parseSize('block_size', options.block_size) : 2 << 20;
  if (!isPow2(blockSize) || blockSize < 4096 || blockSize > 256 << 20) throw new UsageError('vhd: -o block_size must be a power of two from 4K to 256M');
  const chs = options.chs ? parseBool('chs', options.chs) : options.force_size ? !parseBool('force_size', options.force_size) : false;
  let size = roundUp(sourceSize, 512);
  if (options.align) {
    const a = parseSize('align', options.align);
    if (!isPow2(a) || a < 512) throw new UsageError('vhd: -o align must be a power of two of at least 512');
    size = roundUp(size, a);
  }
  let geometry = vhdGeometry(size / 512);
  let creatorApp = 'qem2';
  if (chs) {
    // qemu's rounding: grow until the CHS geometry holds the disk, unless that needs the maximum geometry.
    creatorApp = 'qemu';
    if (size / 512 > VHD_MAX_SECTORS) {
      geometry = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 };
    } else {
      const total = Math.min(VHD_MAX_GEOMETRY, size / 512);
      geometry = { cylinders: 0, heads: 0, sectorsPerTrack: 0 };
      for (let i = 0; total > geometry.cylinders * geometry.heads * geometry.sectorsPerTrack; i++) geometry = vhdGeometry(total + i);
    }
    const prod = geometry.cylinders * geometry.heads * geometry.sectorsPerTrack;
    if (prod !== VHD_MAX_GEOMETRY) size = prod * 512;
  }
  if (size / 512 > VHD_MAX_SECTORS) throw new UsageError(`vhd: ${size} bytes is larger than VHD's 2040 GiB limit`);
  return { subformat, blockSize, size, geometry, creatorApp };
}

function makeFooter(p: { size: number; geometry: VhdCreateParams['geometry']; creatorApp: string; diskType: number; dataOffset: bigint; uniqueId?: string }): VhdFooter {
  return {
    cookie: 'conectix', features: 2, version: 0x00010000, dataOffset: p.dataOffset,
    timestamp: Math.max(0, Math.floor(Date.now() / 1000) - VHD_EPOCH) >>> 0,
    creatorApp: p.creatorApp, creatorVersion: 0x00050003, creatorHostOs: 'Wi2k',
    originalSize: p.size, currentSize: p.size, ...p.geometry, diskType: p.diskType, checksum: 0,
    uniqueId: p.uniqueId ?? randomGuid(), savedState: 0,
  };
}

/** Write `source` as a VHD: fixed (data in place, footer at the end) or dynamic (blocks only where data is). */
export async function createVhd(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const p = vhdCreateParams(source.size, opts.options);
  const copyLen = Math.min(source.size, p.size);
  // No flush in here: like qemu-img convert (cache=unsafe), syncing is the caller's choice (AtomicOutput.commit({sync})).
  if (p.subformat === 'fixed') {
    const footer = footerBytesOf(makeFooter({ ...p, diskType: 2, dataOffset: 0xffffffffffffffffn }));
    await pumpDataRuns(source, (data, offset) => sink.write(data, offset), { length: copyLen, onProgress: opts.onProgress, ordered: false });
    await sink.write(footer, p.size);
    await sink.truncate(p.size + VHD_FOOTER_SIZE);
    return;
  }
  const bs = p.blockSize;
  const entries = Math.ceil(p.size / bs);
  const tableOffset = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
  const batBytes = roundUp(entries * 4, 512);
  const bitmapSize = bitmapSizeOf(bs);
  const footer = footerBytesOf(makeFooter({ ...p, diskType: 3, dataOffset: BigInt(VHD_FOOTER_SIZE) }));
  await sink.write(footer, 0);
  await sink.write(headerBytesOf(dynamicHeaderFor(tableOffset, entries, bs)), VHD_FOOTER_SIZE);
  const bat = new Uint8Array(batBytes).fill(0xff);
  const batView = new DataView(bat.buffer);
  const bitmap = new Uint8Array(bitmapSize).fill(0xff);
  let next = tableOffset + batBytes;
  const consume = blocksInArrivalOrder(sink, bs, (blk, writes) => {
    batView.setUint32(blk * 4, next / 512);
    writes.push(sink.write(bitmap, next));
    const at = next + bitmapSize;
    next += bitmapSize + bs;
    return at;
  });
  await pumpDataRuns(source, consume, { length: copyLen, onProgress: opts.onProgress });
  await sink.write(bat, tableOffset);
  await sink.write(footer, next);
  await sink.truncate(next + VHD_FOOTER_SIZE);
}

export interface DifferencingOptions {
  /** Block size of the child (default: the parent's, else 2 MiB). */
  blockSize?: number;
  /** The parent's absolute path, stored in a W2ku locator besides the relative W2ru one. */
  absolutePath?: string;
}

/**
 * Create an empty differencing VHD whose parent is `parent` (an opened VHD image) stored under
 * `parentPath` relative to the child's folder.
 */
export async function createDifferencing(parentPath: string, parent: Image, sink: ImageSink, opts: DifferencingOptions = {}): Promise<void> {
  if (!(parent instanceof VhdImage)) throw new UsageError(`the parent of a differencing VHD must be a VHD image (got ${parent.format})`);
  const bs = opts.blockSize ?? (parent.blockSize || 2 << 20);
  if (!isPow2(bs) || bs < 4096 || bs > 256 << 20) throw new UsageError('vhd: block size must be a power of two from 4K to 256M');
  const pf = parent.footer;
  const size = parent.size;
  const entries = Math.ceil(size / bs);
  // Relative locator (W2ru), then absolute (W2ku) when known; data after the header, 512 bytes each.
  const rel = '.\\' + parentPath.replace(/\//g, '\\').replace(/^\.\\/, '');
  const datas: [string, Uint8Array][] = [['W2ru', encodeUtf16(rel, true)]];
  if (opts.absolutePath) datas.push(['W2ku', encodeUtf16(opts.absolutePath.replace(/\//g, '\\'), true)]);
  let at = VHD_FOOTER_SIZE + VHD_HEADER_SIZE;
  const locators: VhdParentLocator[] = [];
  for (const [code, d] of datas) {
    const space = roundUp(Math.max(d.length, 1), 512);
    locators.push({ platformCode: code, platformDataSpace: space, platformDataLength: d.length, platformDataOffset: at });
    await sink.write(d, at);
    at += space;
  }
  const tableOffset = at;
  const batBytes = roundUp(entries * 4, 512);
  const footer = footerBytesOf(makeFooter({
    size, geometry: { cylinders: pf.cylinders, heads: pf.heads, sectorsPerTrack: pf.sectorsPerTrack },
    creatorApp: parent.sizeSource === 'chs' ? pf.creatorApp : 'qem2', diskType: 4, dataOffset: BigInt(VHD_FOOTER_SIZE),
  }));
  const header = dynamicHeaderFor(tableOffset, entries, bs, {
    parentUniqueId: pf.uniqueId, parentTimestamp: pf.timestamp, parentUnicodeName: baseName(parentPath), parentLocators: locators,
  });
  await sink.write(footer, 0);
  await sink.write(headerBytesOf(header), VHD_FOOTER_SIZE);
  await sink.write(new Uint8Array(batBytes).fill(0xff), tableOffset);
  await sink.write(footer, tableOffset + batBytes);
  await sink.truncate(tableOffset + batBytes + VHD_FOOTER_SIZE);
}
