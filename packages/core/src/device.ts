import { DeviceRangeError } from './errors.js';

/** What a byte range of a device holds: the idea of QEMU's block status. */
export type ExtentKind = 'data' | 'zero' | 'unallocated';

export interface Extent {
  offset: number;
  length: number;
  kind: ExtentKind;
}

/**
 * A random-access device of `size` bytes: a file, a buffer, a partition, or the virtual disk
 * inside an image container. Everything in diskit reads and writes through this one shape.
 */
export interface BlockDevice {
  readonly size: number;
  readonly readOnly: boolean;
  /** Fill `into` with the bytes at `offset`; the whole range must lie inside the device. */
  read(into: Uint8Array, offset: number): Promise<void>;
  /** Write `from` at `offset`; the whole range must lie inside the device. */
  write(from: Uint8Array, offset: number): Promise<void>;
  /**
   * Runs covering [offset, offset+length) in order, with no gaps. `zero` and `unallocated` runs
   * read as zeros; converters skip them. A device that knows nothing says `data`.
   */
  extents(offset?: number, length?: number): AsyncIterable<Extent>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where a format writes a new image: positioned writes plus a final size. A file sink leaves
 * unwritten ranges as holes.
 */
export interface ImageSink {
  write(from: Uint8Array, offset: number): Promise<void>;
  /** Set the final length (extending with a hole, or cutting). */
  truncate(size: number): Promise<void>;
  flush?(): Promise<void>;
}

export function checkRange(dev: { size: number }, offset: number, length: number, what = 'read'): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > dev.size) {
    throw new DeviceRangeError(`${what} of ${length} bytes at ${offset} is outside the device (size ${dev.size})`);
  }
}

/** Clamp an extents() request to the device. */
export function extentWindow(size: number, offset = 0, length?: number): [number, number] {
  const start = Math.max(0, Math.min(offset, size));
  const end = length === undefined ? size : Math.max(start, Math.min(size, start + length));
  return [start, end];
}

/** Read `length` bytes at `offset` into a new array. */
export async function readBytes(dev: BlockDevice, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await dev.read(buf, offset);
  return buf;
}

/** Extents with neighbours of the same kind merged and empty ones dropped, as they stream. */
export async function* coalesceExtents(extents: AsyncIterable<Extent>): AsyncGenerator<Extent> {
  let cur: Extent | undefined;
  for await (const e of extents) {
    if (e.length <= 0) continue;
    if (cur && cur.kind === e.kind && cur.offset + cur.length === e.offset) cur.length += e.length;
    else {
      if (cur) yield cur;
      cur = { ...e };
    }
  }
  if (cur) yield cur;
}

/** Collect a device's extents, merging neighbours of the same kind. */
export async function collectExtents(dev: BlockDevice, offset?: number, length?: number): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of coalesceExtents(dev.extents(offset, length))) out.push(e);
  return out;
}

/** A device held in memory: for tests, small images and browsers. Grows on write past the end when `growable`. */
export class MemoryDevice implements BlockDevice, ImageSink {
  readOnly: boolean;
  private buf: Uint8Array;
  private _size: number;

  constructor(data: Uint8Array | number = 0, opts: { readOnly?: boolean; growable?: boolean } = {}) {
    this.buf = typeof data === 'number' ? new Uint8Array(data) : data;
    this._size = this.buf.length;
    this.readOnly = opts.readOnly ?? false;
    this.growable = opts.growable ?? false;
  }
  private growable: boolean;

  get size(): number {
    return this._size;
  }
  /** The device's bytes (a view, not a copy). */
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this._size);
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    into.set(this.buf.subarray(offset, offset + into.length));
  }

  async write(from: Uint8Array, offset: number): Promise<void> {
    if (this.readOnly) throw new DeviceRangeError('device is read-only');
    if (this.growable && offset + from.length > this._size) await this.truncate(offset + from.length);
    checkRange(this, offset, from.length, 'write');
    this.buf.set(from, offset);
  }

  async truncate(size: number): Promise<void> {
    if (size > this.buf.length) {
      const next = new Uint8Array(Math.max(size, this.buf.length * 2));
      next.set(this.buf.subarray(0, this._size));
      this.buf = next;
    } else if (size < this._size) {
      this.buf.fill(0, size, this._size);
    }
    this._size = size;
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this._size, offset, length);
    if (end > start) yield { offset: start, length: end - start, kind: 'data' };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A window [start, start+size) of another device: a partition, an embedded filesystem. */
export class SliceDevice implements BlockDevice {
  constructor(
    readonly parent: BlockDevice,
    readonly start: number,
    readonly size: number,
  ) {
    if (start < 0 || size < 0 || start + size > parent.size) {
      throw new DeviceRangeError(`slice [${start}, ${start + size}) lies outside its device (size ${parent.size})`);
    }
  }
  get readOnly(): boolean {
    return this.parent.readOnly;
  }
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    return this.parent.read(into, this.start + offset);
  }
  async write(from: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, from.length, 'write');
    return this.parent.write(from, this.start + offset);
  }
  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [s, e] = extentWindow(this.size, offset, length);
    if (e <= s) return;
    for await (const x of this.parent.extents(this.start + s, e - s)) {
      yield { offset: x.offset - this.start, length: x.length, kind: x.kind };
    }
  }
  flush(): Promise<void> {
    return this.parent.flush();
  }
  /** Closing a slice leaves its parent open: the parent has its own owner. */
  async close(): Promise<void> {}
}

/** Base of devices that only read (decoded views, overlays): writes refuse, extents say data. */
export abstract class ReadOnlyDevice implements BlockDevice {
  readonly readOnly = true;
  abstract readonly size: number;
  abstract read(into: Uint8Array, offset: number): Promise<void>;
  async write(): Promise<void> {
    throw new DeviceRangeError(`${this.constructor.name} is read-only`);
  }
  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    if (end > start) yield { offset: start, length: end - start, kind: 'data' };
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** One block's part of a byte range: `block` index, offset `inBlock`, offset `at` in the range, `length`. */
export interface BlockPiece {
  block: number;
  inBlock: number;
  at: number;
  length: number;
}

/** Split [offset, offset+length) at multiples of `blockSize`: one piece per block touched. */
export function* blockPieces(offset: number, length: number, blockSize: number): Generator<BlockPiece> {
  for (let at = 0; at < length; ) {
    const pos = offset + at;
    const block = Math.floor(pos / blockSize);
    const inBlock = pos - block * blockSize;
    const n = Math.min(blockSize - inBlock, length - at);
    yield { block, inBlock, at, length: n };
    at += n;
  }
}
