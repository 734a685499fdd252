/**
 * A copy-on-write overlay file (`serve --writable --overlay FILE`): writes land in FILE, the image
 * under it is never touched. Layout: a 4 KiB header (magic, block size, virtual size, the base
 * image's name, CRC32), a bitmap of written blocks, then block i at dataOffset + i·blockSize
 * (unwritten blocks stay holes). `diskit convert FILE out.raw` reads it like any image.
 */
import { CorruptImageError, crc32, extentWindow, blockPieces, type BlockDevice, type Extent, type ImageSink } from '@diskit/core';

export const COW_MAGIC = 'DISKITOV';
const HEADER_SIZE = 4096;
const VERSION = 1;
const DEFAULT_BLOCK = 64 << 10;
const MAX_VIRTUAL = 2 ** 50;

export interface CowHeader {
  blockSize: number;
  virtualSize: number;
  dataOffset: number;
  /** The base image, as given when the overlay was made (relative to the overlay's folder). */
  base: string;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;
const bitmapBytes = (h: CowHeader) => Math.ceil(Math.ceil(h.virtualSize / h.blockSize) / 8);

export function encodeCowHeader(h: CowHeader): Uint8Array {
  const b = new Uint8Array(HEADER_SIZE);
  const v = new DataView(b.buffer);
  b.set(new TextEncoder().encode(COW_MAGIC), 0);
  v.setUint32(8, VERSION);
  v.setUint32(12, h.blockSize);
  v.setBigUint64(16, BigInt(h.virtualSize));
  v.setBigUint64(24, BigInt(h.dataOffset));
  const name = new TextEncoder().encode(h.base);
  if (name.length > HEADER_SIZE - 64) throw new CorruptImageError('overlay header', 0, 'a base name under 4 KiB', `${name.length} bytes`);
  v.setUint32(32, name.length);
  b.set(name, 40);
  v.setUint32(HEADER_SIZE - 4, crc32(b.subarray(0, HEADER_SIZE - 4)));
  return b;
}

export function parseCowHeader(b: Uint8Array, fileSize: number): CowHeader {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_SIZE || new TextDecoder().decode(b.subarray(0, 8)) !== COW_MAGIC) throw new CorruptImageError('overlay header', 0, `magic ${COW_MAGIC}`);
  if (v.getUint32(HEADER_SIZE - 4) !== crc32(b.subarray(0, HEADER_SIZE - 4))) throw new CorruptImageError('overlay header', 0, 'a matching CRC32');
  if (v.getUint32(8) !== VERSION) throw new CorruptImageError('overlay header', 8, `version ${VERSION}`, String(v.getUint32(8)));
  const blockSize = v.getUint32(12);
  const virtualSize = Number(v.getBigUint64(16));
  const dataOffset = Number(v.getBigUint64(24));
  const nameLen = v.getUint32(32);
  if (blockSize < 512 || blockSize > 1 << 24 || blockSize & (blockSize - 1)) throw new CorruptImageError('overlay header', 12, 'a power-of-two block size', String(blockSize));
  if (!(virtualSize > 0 && virtualSize <= MAX_VIRTUAL)) throw new CorruptImageError('overlay header', 16, 'a virtual size', String(virtualSize));
  if (nameLen > HEADER_SIZE - 64) throw new CorruptImageError('overlay header', 32, 'a base name under 4 KiB', String(nameLen));
  const h = { blockSize, virtualSize, dataOffset, base: new TextDecoder().decode(b.subarray(40, 40 + nameLen)) };
  if (dataOffset !== align(HEADER_SIZE + bitmapBytes(h), blockSize) || dataOffset > fileSize) throw new CorruptImageError('overlay header', 24, 'the data area after the bitmap, inside the file', String(dataOffset));
  return h;
}

/** Start an empty overlay over `base` in `file` (a new, empty, writable file). */
export async function createCowOverlay(file: BlockDevice & ImageSink, base: BlockDevice, baseName: string, blockSize = DEFAULT_BLOCK): Promise<CowDevice> {
  const h: CowHeader = { blockSize, virtualSize: base.size, dataOffset: 0, base: baseName };
  h.dataOffset = align(HEADER_SIZE + bitmapBytes(h), blockSize);
  await file.write(encodeCowHeader(h), 0);
  await file.truncate(h.dataOffset);
  return new CowDevice(base, file, h, new Uint8Array(bitmapBytes(h)));
}

/** Reopen an overlay; `openBase` opens the image it was made over (by the name in its header). */
export async function openCowOverlay(file: BlockDevice, openBase: (name: string) => Promise<BlockDevice>): Promise<CowDevice> {
  const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
  await file.read(head, 0);
  const h = parseCowHeader(head, file.size);
  const base = await openBase(h.base);
  if (base.size !== h.virtualSize) throw new CorruptImageError('overlay header', 16, `the base image's size ${base.size}`, String(h.virtualSize));
  const bitmap = new Uint8Array(bitmapBytes(h));
  await file.read(bitmap, HEADER_SIZE);
  return new CowDevice(base, file, h, bitmap);
}

export class CowDevice implements BlockDevice {
  readonly size: number;
  /** Writes to one block waiting on each other, so two partial writes never lose each other's bytes. */
  private locks = new Map<number, Promise<void>>();

  constructor(
    readonly base: BlockDevice,
    readonly file: BlockDevice,
    readonly header: CowHeader,
    private readonly bitmap: Uint8Array,
  ) {
    this.size = header.virtualSize;
  }

  get readOnly(): boolean {
    return this.file.readOnly;
  }

  private written(block: number): boolean {
    return (this.bitmap[block >> 3]! & (1 << (block & 7))) !== 0;
  }

  private at(block: number, inBlock = 0): number {
    return this.header.dataOffset + block * this.header.blockSize + inBlock;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    const { blockSize } = this.header;
    const reads: Promise<void>[] = [];
    for (const p of blockPieces(offset, into.length, blockSize)) {
      const part = into.subarray(p.at, p.at + p.length);
      reads.push(this.written(p.block) ? readFileOrZero(this.file, part, this.at(p.block, p.inBlock)) : this.base.read(part, offset + p.at));
    }
    await Promise.all(reads);
  }

  async write(from: Uint8Array, offset: number): Promise<void> {
    if (offset + from.length > this.size) throw new CorruptImageError('overlay write', offset, `a range inside ${this.size} bytes`);
    for (const p of blockPieces(offset, from.length, this.header.blockSize)) await this.writePiece(p.block, p.inBlock, from.subarray(p.at, p.at + p.length));
  }

  private async writePiece(block: number, inBlock: number, bytes: Uint8Array): Promise<void> {
    const prev = this.locks.get(block) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (this.written(block)) return this.file.write(bytes, this.at(block, inBlock));
      const { blockSize } = this.header;
      const start = block * blockSize;
      const whole = new Uint8Array(Math.min(blockSize, this.size - start));
      if (bytes.length < whole.length) await this.base.read(whole, start);
      whole.set(bytes, inBlock);
      await this.file.write(whole, this.at(block));
      // Data before the bitmap bit: a crash leaves the block unwritten, never pointing at garbage.
      this.bitmap[block >> 3]! |= 1 << (block & 7);
      await this.file.write(this.bitmap.subarray(block >> 3, (block >> 3) + 1), HEADER_SIZE + (block >> 3));
    });
    const settled = next.catch(() => {});
    this.locks.set(block, settled);
    void settled.then(() => {
      if (this.locks.get(block) === settled) this.locks.delete(block);
    });
    return next;
  }

  /** Written blocks are data; the rest is whatever the base image says. */
  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    const { blockSize } = this.header;
    let pos = start;
    while (pos < end) {
      const block = Math.floor(pos / blockSize);
      const mine = this.written(block);
      let stop = Math.min(end, (block + 1) * blockSize);
      while (stop < end && this.written(Math.floor(stop / blockSize)) === mine) stop = Math.min(end, stop + blockSize);
      if (mine) yield { offset: pos, length: stop - pos, kind: 'data' };
      else yield* this.base.extents(pos, stop - pos);
      pos = stop;
    }
  }

  async flush(): Promise<void> {
    await Promise.all([...this.locks.values()]);
    await this.file.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.base.close();
  }
}

/** The last block may be cut short in the file when the virtual size is not a block multiple. */
async function readFileOrZero(file: BlockDevice, into: Uint8Array, at: number): Promise<void> {
  const inFile = Math.max(0, Math.min(into.length, file.size - at));
  if (inFile > 0) await file.read(into.subarray(0, inFile), at);
  into.fill(0, inFile);
}
