import { describe, expect, it } from 'vitest';
import { crc32, crc32c, isZero, isZeroJs, forEachDataRun, MemoryDevice, SliceDevice, copyDevice, collectExtents, dataRuns, pumpDataRuns, guidToBytes, guidToString, DeviceRangeError } from './index.js';
import { crc32 as zlibCrc32 } from 'node:zlib';

const enc = new TextEncoder();

describe('checksums', () => {
  it('match the standard check values', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32c(enc.encode('123456789'))).toBe(0xe3069283);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
  it('agree with zlib on random data of every length and continue across calls', () => {
    const data = new Uint8Array(4099);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    for (const n of [1, 7, 8, 9, 63, 4099]) expect(crc32(data.subarray(0, n))).toBe(zlibCrc32(data.subarray(0, n)));
    expect(crc32(data.subarray(1000), crc32(data.subarray(0, 1000)))).toBe(zlibCrc32(data));
  });
});

describe('isZero', () => {
  for (const [name, fn] of [['native', isZero], ['portable', isZeroJs]] as const) {
    it(`${name}: finds a single set byte anywhere, at any alignment and length`, () => {
      for (const size of [200, 300, 70_000, 140_000]) {
        const buf = new Uint8Array(size);
        for (let off = 0; off < 9; off++) {
          for (let pos = off; pos < size; pos += size > 1000 ? 4099 : 13) {
            const v = buf.subarray(off);
            expect(fn(v)).toBe(true);
            buf[pos] = 1;
            expect(fn(v)).toBe(false);
            buf[pos] = 0;
          }
          buf[size - 1] = 0x80;
          expect(fn(buf.subarray(off))).toBe(false);
          buf[size - 1] = 0;
        }
      }
    });
  }
});

describe('forEachDataRun', () => {
  it('finds data granules whether the set byte is in the first word or later, aligned or not', () => {
    const gran = 4096;
    for (const off of [0, 1, 4]) {
      const whole = new Uint8Array(off + 8 * gran);
      const buf = whole.subarray(off);
      buf[2 * gran] = 1; // first byte of granule 2 (the word fast path)
      buf[5 * gran + 100] = 7; // granule 5, after a zero first word (the full check)
      buf[8 * gran - 1] = 9; // last byte of the last granule
      const runs: [number, number][] = [];
      forEachDataRun(buf, gran, (s, e) => runs.push([s, e]));
      expect(runs).toEqual([[2 * gran, 3 * gran], [5 * gran, 6 * gran], [7 * gran, 8 * gran]]);
    }
  });
});

describe('devices', () => {
  it('slices read and write through to their parent and refuse out-of-range access', async () => {
    const mem = new MemoryDevice(1024);
    const slice = new SliceDevice(mem, 512, 256);
    await slice.write(new Uint8Array([1, 2, 3]), 10);
    expect([...mem.bytes.subarray(522, 525)]).toEqual([1, 2, 3]);
    await expect(slice.read(new Uint8Array(10), 250)).rejects.toBeInstanceOf(DeviceRangeError);
    expect(() => new SliceDevice(mem, 1000, 100)).toThrow(DeviceRangeError);
  });

  it('copyDevice writes only non-zero runs and sets the final size', async () => {
    const src = new MemoryDevice(1 << 20);
    src.bytes.fill(7, 100_000, 100_010);
    src.bytes.fill(9, (1 << 20) - 5);
    const writes: [number, number][] = [];
    const sink = new MemoryDevice(0, { growable: true });
    const origWrite = sink.write.bind(sink);
    sink.write = async (b, o) => { writes.push([o, b.length]); return origWrite(b, o); };
    const stats = await copyDevice(src, sink, { chunkSize: 256 << 10, zeroGranularity: 4096 });
    expect(sink.size).toBe(src.size);
    expect(Buffer.compare(sink.bytes, src.bytes)).toBe(0);
    expect(writes).toEqual([[98304, 4096], [(1 << 20) - 4096, 4096]]);
    expect(stats.dataBytes).toBe(8192);
  });

  it('pumpDataRuns hands chunks over in device order while reads finish out of order, and keeps buffers until writes settle', async () => {
    const chunk = 4096;
    const src = new MemoryDevice(64 * chunk);
    for (let i = 0; i < 64; i++) src.bytes.fill(i + 1, i * chunk, (i + 1) * chunk);
    // Later chunks' reads finish first: a pump that trusted completion order would scramble the calls.
    const read = src.read.bind(src);
    src.read = async (into, offset) => {
      await new Promise((r) => setTimeout(r, (63 - offset / chunk) % 7));
      return read(into, offset);
    };
    const order: number[] = [];
    const copy = new Uint8Array(src.size);
    const stats = await pumpDataRuns(src, async (data, offset) => {
      order.push(offset);
      const first = data[0];
      await new Promise((r) => setTimeout(r, offset % 3));
      // Still the same bytes after the wait: the lane has not reused its buffer under us.
      expect(data.every((b) => b === first)).toBe(true);
      copy.set(data, offset);
    }, { chunkSize: chunk, lanes: 5 });
    expect(order).toEqual(Array.from({ length: 64 }, (_, i) => i * chunk));
    expect(Buffer.compare(copy, src.bytes)).toBe(0);
    expect(stats.dataBytes).toBe(src.size);
  });

  it('pumpDataRuns reports the first failure of a read or a write, after the other lanes stop', async () => {
    const src = new MemoryDevice(1 << 20);
    src.bytes.fill(1);
    const read = src.read.bind(src);
    src.read = async (into, offset) => {
      if (offset === 5 * 4096) throw new DeviceRangeError('bad sector at 20480');
      return read(into, offset);
    };
    let inFlight = 0;
    let calls = 0;
    const consume = async () => {
      calls++;
      inFlight++;
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
    };
    await expect(pumpDataRuns(src, consume, { chunkSize: 4096, lanes: 4 })).rejects.toThrow('bad sector at 20480');
    expect(inFlight).toBe(0);
    expect(calls).toBeLessThanOrEqual(5);
    const failing = async (_d: Uint8Array, offset: number) => {
      if (offset === 3 * 4096) throw new Error('disk full at 12288');
      await new Promise((r) => setTimeout(r, 1));
    };
    await expect(pumpDataRuns(new MemoryDevice(src.bytes), failing, { chunkSize: 4096, lanes: 3 })).rejects.toThrow('disk full');
  });

  it('dataRuns skips extents that are not data', async () => {
    const src = new MemoryDevice(8192);
    src.bytes.fill(1);
    src.extents = async function* () {
      yield { offset: 0, length: 4096, kind: 'unallocated' as const };
      yield { offset: 4096, length: 4096, kind: 'data' as const };
    };
    const runs = [];
    for await (const r of dataRuns(src)) runs.push([r.offset, r.data.length]);
    expect(runs).toEqual([[4096, 4096]]);
    expect(await collectExtents(src)).toHaveLength(2);
  });
});

describe('GUIDs', () => {
  it('round-trip in mixed-endian layout', () => {
    const s = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
    const b = guidToBytes(s);
    expect([...b.subarray(0, 4)]).toEqual([0x28, 0x73, 0x2a, 0xc1]);
    expect(guidToString(b)).toBe(s);
  });
});
