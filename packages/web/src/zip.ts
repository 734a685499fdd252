/**
 * A streamed ZIP writer (stored entries, data descriptors), so a folder downloads without being held
 * in memory: each entry's header, its bytes as they are read, then its CRC and sizes. ZIP64 fields are
 * written for entries and archives past 4 GiB.
 */
import { crc32 } from '@diskit/core';

const enc = new TextEncoder();

class Bytes {
  private b: Uint8Array;
  private v: DataView;
  private at = 0;
  constructor(n: number) {
    this.b = new Uint8Array(n);
    this.v = new DataView(this.b.buffer);
  }
  u16(x: number): this {
    this.v.setUint16(this.at, x, true);
    this.at += 2;
    return this;
  }
  u32(x: number): this {
    this.v.setUint32(this.at, x >>> 0, true);
    this.at += 4;
    return this;
  }
  u64(x: number): this {
    this.v.setBigUint64(this.at, BigInt(x), true);
    this.at += 8;
    return this;
  }
  raw(x: Uint8Array): this {
    this.b.set(x, this.at);
    this.at += x.length;
    return this;
  }
  done(): Uint8Array {
    return this.b.subarray(0, this.at);
  }
}

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
  dir: boolean;
  dosTime: number;
}

const MAX32 = 0xffffffff;

function dosTime(d = new Date()): number {
  const y = Math.max(1980, d.getFullYear());
  return (((y - 1980) << 25) | ((d.getMonth() + 1) << 21) | (d.getDate() << 16) | (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1)) >>> 0;
}

export class ZipWriter {
  private offset = 0;
  private entries: Written[] = [];
  constructor(private readonly out: (bytes: Uint8Array) => Promise<void>) {}

  private async emit(b: Uint8Array): Promise<void> {
    await this.out(b);
    this.offset += b.length;
  }

  /** One entry: a folder (name ending in /) or a file whose bytes `body` yields in order. */
  async add(path: string, mtime: Date | undefined, body?: AsyncIterable<Uint8Array>): Promise<void> {
    const name = enc.encode(path);
    const dir = path.endsWith('/');
    const time = dosTime(mtime);
    const offset = this.offset;
    // Local header: sizes and CRC follow in the data descriptor (flag bit 3); UTF-8 names (bit 11).
    await this.emit(new Bytes(30 + name.length).u32(0x04034b50).u16(45).u16(0x0808).u16(0).u32(time).u32(0).u32(0).u32(0).u16(name.length).u16(0).raw(name).done());
    let crc = 0;
    let size = 0;
    if (body) {
      for await (const chunk of body) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        await this.emit(chunk);
      }
    }
    await this.emit(new Bytes(24).u32(0x08074b50).u32(crc).u64(size).u64(size).done());
    this.entries.push({ name, crc, size, offset, dir, dosTime: time });
  }

  async finish(): Promise<void> {
    const start = this.offset;
    for (const e of this.entries) {
      const big = e.size >= MAX32 || e.offset >= MAX32;
      const extra = big ? new Bytes(28).u16(1).u16(24).u64(e.size).u64(e.size).u64(e.offset).done() : new Uint8Array(0);
      await this.emit(
        new Bytes(46 + e.name.length + extra.length)
          .u32(0x02014b50).u16(0x031e).u16(45).u16(0x0808).u16(0).u32(e.dosTime).u32(e.crc)
          .u32(big ? MAX32 : e.size).u32(big ? MAX32 : e.size).u16(e.name.length).u16(extra.length).u16(0).u16(0).u16(0)
          .u32(e.dir ? (0o40755 << 16) | 0x10 : 0o100644 << 16).u32(big ? MAX32 : e.offset).raw(e.name).raw(extra).done(),
      );
    }
    const size = this.offset - start;
    const n = this.entries.length;
    // ZIP64 end records always: readers take them, and they hold any count or offset.
    const eocd64 = this.offset;
    await this.emit(new Bytes(56).u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(n).u64(n).u64(size).u64(start).done());
    await this.emit(new Bytes(20).u32(0x07064b50).u32(0).u64(eocd64).u32(1).done());
    await this.emit(new Bytes(22).u32(0x06054b50).u16(0).u16(0).u16(Math.min(n, 0xffff)).u16(Math.min(n, 0xffff)).u32(Math.min(size, MAX32)).u32(Math.min(start, MAX32)).u16(0).done());
  }
}
