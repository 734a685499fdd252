/** Disks past one VHDX chunk (4 GiB with 512-byte sectors): sector-bitmap entries interleave in the BAT. */
import { expect, it } from 'vitest';
import { collectExtents, checkRange, type BlockDevice, type Extent } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { vhdxDriver, vhdDriver } from './index.js';
import { createWith, join, openWith, prng, tmp } from '../test/helpers.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** A large, mostly empty device: data only at the given spots. */
class SparseDevice implements BlockDevice {
  readonly readOnly = true;
  constructor(readonly size: number, private spots: [number, Uint8Array][]) {}
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    into.fill(0);
    for (const [o, d] of this.spots) {
      const a = Math.max(o, offset), b = Math.min(o + d.length, offset + into.length);
      if (a < b) into.set(d.subarray(a - o, b - o), a - offset);
    }
  }
  async write(): Promise<void> { throw new Error('read-only'); }
  async *extents(offset = 0, length = this.size - offset): AsyncIterable<Extent> {
    let pos = offset;
    const end = offset + length;
    for (const [o, d] of [...this.spots].sort((x, y) => x[0] - y[0])) {
      const a = Math.max(o, pos), b = Math.min(o + d.length, end);
      if (a >= b) continue;
      if (a > pos) yield { offset: pos, length: a - pos, kind: 'unallocated' };
      yield { offset: a, length: b - a, kind: 'data' };
      pos = b;
    }
    if (pos < end) yield { offset: pos, length: end - pos, kind: 'unallocated' };
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

describeWithTools(['qemu-img', 'qemu-io'], 'large sparse images', () => {
  it('reads a 6 GiB qemu VHDX (256 MiB blocks, chunk ratio 16) past the first chunk', async () => {
    const dir = tmp();
    const p = join(dir, 'big.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=256M', p, '6G']);
    run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0x33 4608M 64k', '-c', 'write -P 0x44 4G 4k', '-c', 'write -P 0x55 100M 512', p]);
    const { image, close } = await openWith(vhdxDriver, p);
    expect(image.size).toBe(6 * GiB);
    const b = new Uint8Array(64 * 1024 + 1024);
    await image.read(b, 4608 * MiB - 512);
    expect(b.subarray(0, 512).every((x) => x === 0)).toBe(true);
    expect(b.subarray(512, 512 + 65536).every((x) => x === 0x33)).toBe(true);
    expect(b.subarray(512 + 65536).every((x) => x === 0)).toBe(true);
    const c = new Uint8Array(4096);
    await image.read(c, 4 * GiB);
    expect(c.every((x) => x === 0x44)).toBe(true);
    await image.read(c, 100 * MiB);
    expect(c.subarray(0, 512).every((x) => x === 0x55)).toBe(true);
    const data = (await collectExtents(image)).filter((e) => e.kind === 'data').map((e) => [e.offset / MiB, e.length / MiB]);
    expect(data).toEqual([[0, 256], [4096, 256], [4608, 256]]);
    await close();
  });

  for (const [name, driver, fmt, options] of [
    ['vhdx 1M blocks (chunk ratio 4096)', vhdxDriver, 'vhdx', { block_size: '1M' }],
    ['vhd dynamic', vhdDriver, 'vpc', {}],
  ] as const) {
    it(`writes a 6 GiB sparse ${name} that qemu-io reads back`, async () => {
      const dir = tmp();
      const p = join(dir, `big.${driver.name}`);
      const spots: [number, Uint8Array][] = [[4 * GiB + MiB + 512, prng(1, 70_000)], [5 * GiB + 5, prng(2, 1000)], [0, prng(3, 4096)]];
      await createWith(driver, new SparseDevice(6 * GiB, spots) as never, p, options);
      if (fmt === 'vhdx') run('qemu-img', ['check', '-f', fmt, p]);
      expect(JSON.parse(run('qemu-img', ['info', '--output=json', '-f', fmt, p]))['virtual-size']).toBe(6 * GiB);
      // qemu-io read -v dumps the bytes qemu reads at each spot.
      for (const [o, d] of spots) {
        const out = run('qemu-io', ['-f', fmt, '-c', `read -v ${o} ${Math.min(d.length, 512)}`, p]);
        const bytes = out.split('\n').filter((l) => /^[0-9a-f]+: /.test(l))
          .flatMap((l) => l.slice(l.indexOf(':') + 3, l.indexOf(':') + 3 + 16 * 3).trim().split(/\s+/).map((h) => parseInt(h, 16)));
        expect(bytes).toEqual([...d.subarray(0, Math.min(d.length, 512))]);
      }
      const map = JSON.parse(run('qemu-img', ['map', '--output=json', '-f', fmt, p])) as { start: number; length: number; data: boolean }[];
      if (fmt === 'vpc') {
        // Only the blocks holding data are allocated.
        expect(map.filter((m) => m.data).reduce((n, m) => n + m.length, 0)).toBe(3 * 2 * MiB);
      }
    });
  }
});
