import { describe, expect, it } from 'vitest';
import { collectExtents, MemoryDevice } from './device.js';
import { TruncatedImageError } from './errors.js';
import { MappedDevice } from './mapped.js';

const disk = new MemoryDevice(Uint8Array.from({ length: 64 }, (_, i) => i + 1));

describe('MappedDevice', () => {
  it('reads runs from the device, zero runs and gaps as zeros', async () => {
    const f = new MappedDevice(disk, [{ at: 2, length: 3, from: 10 }, { at: 5, length: 2 }, { at: 9, length: 2, from: 0 }], 12);
    const out = new Uint8Array(12);
    await f.read(out, 0);
    expect([...out]).toEqual([0, 0, 11, 12, 13, 0, 0, 0, 0, 1, 2, 0]);
    const part = new Uint8Array(4);
    await f.read(part, 3);
    expect([...part]).toEqual([12, 13, 0, 0]);
    expect(await collectExtents(f)).toEqual([
      { offset: 0, length: 2, kind: 'zero' },
      { offset: 2, length: 3, kind: 'data' },
      { offset: 5, length: 4, kind: 'zero' },
      { offset: 9, length: 2, kind: 'data' },
      { offset: 11, length: 1, kind: 'zero' },
    ]);
  });

  it('reports gaps as unallocated when asked, zero runs still as zero', async () => {
    const f = new MappedDevice(disk, [{ at: 2, length: 2 }, { at: 4, length: 2, from: 0 }], 8, { gaps: 'unallocated' });
    expect(await collectExtents(f)).toEqual([
      { offset: 0, length: 2, kind: 'unallocated' },
      { offset: 2, length: 2, kind: 'zero' },
      { offset: 4, length: 2, kind: 'data' },
      { offset: 6, length: 2, kind: 'unallocated' },
    ]);
  });

  it('refuses a run past the device end (only the part inside the file counts)', () => {
    expect(() => new MappedDevice(disk, [{ at: 0, length: 8, from: 60 }], 8, { what: 'file x' })).toThrow(TruncatedImageError);
    expect(() => new MappedDevice(disk, [{ at: 0, length: 8, from: 60 }], 4)).not.toThrow();
  });
});
