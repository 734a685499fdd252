/** Reading images made by qemu-img/qemu-io: bytes, sizes and extents against qemu-img's view. */
import { beforeAll, expect, it } from 'vitest';
import { describeWithTools, hasTool, run } from '../../../test/tools.js';
import { vhdDriver, vhdxDriver, VhdImage } from './index.js';
import { dataRanges, join, openWith, ourDataRanges, qemuInfo, qemuMap, qemuRaw, readAll, scatteredRaw, tmp } from '../test/helpers.js';

const MiB = 1 << 20;

interface Case { name: string; fmt: 'vpc' | 'vhdx'; size: number; opts: string; via: 'convert' | 'qemu-io' }
const cases: Case[] = [
  { name: 'vpc dynamic 5 MiB', fmt: 'vpc', size: 5 * MiB, opts: 'subformat=dynamic', via: 'convert' },
  { name: 'vpc dynamic odd size (CHS-rounded by qemu)', fmt: 'vpc', size: 7 * MiB + 12345 * 512, opts: 'subformat=dynamic', via: 'qemu-io' },
  { name: 'vpc dynamic force_size (qem2)', fmt: 'vpc', size: 9 * MiB + 3 * 512, opts: 'subformat=dynamic,force_size=on', via: 'qemu-io' },
  { name: 'vpc fixed 6 MiB', fmt: 'vpc', size: 6 * MiB, opts: 'subformat=fixed', via: 'convert' },
  { name: 'vpc fixed odd size', fmt: 'vpc', size: 3 * MiB + 777 * 512, opts: 'subformat=fixed', via: 'qemu-io' },
  { name: 'vhdx dynamic 1 MiB blocks', fmt: 'vhdx', size: 11 * MiB, opts: 'subformat=dynamic,block_size=1M', via: 'convert' },
  { name: 'vhdx dynamic 2 MiB blocks odd size', fmt: 'vhdx', size: 9 * MiB + 5 * 512, opts: 'subformat=dynamic,block_size=2M', via: 'qemu-io' },
  { name: 'vhdx dynamic 32 MiB blocks', fmt: 'vhdx', size: 70 * MiB, opts: 'subformat=dynamic,block_size=32M', via: 'qemu-io' },
  { name: 'vhdx fixed 1 MiB blocks', fmt: 'vhdx', size: 5 * MiB + 512, opts: 'subformat=fixed,block_size=1M', via: 'convert' },
  { name: 'vhdx dynamic, block_state_zero=off', fmt: 'vhdx', size: 6 * MiB, opts: 'subformat=dynamic,block_size=1M,block_state_zero=off', via: 'qemu-io' },
];

describeWithTools(['qemu-img'], 'reading qemu-img images', () => {
  let dir: string;
  beforeAll(() => {
    dir = tmp();
  });

  for (const c of cases) {
    it(`${c.name}: bytes, size and extents match qemu-img`, async () => {
      const path = join(dir, `${c.name.replace(/\W+/g, '_')}.${c.fmt === 'vpc' ? 'vhd' : 'vhdx'}`);
      const spots: [number, number][] = [[0, 4096], [MiB + 100 * 512, 70_000], [Math.floor(c.size / 2 / 512) * 512, 3 * 512], [c.size - 8192, 8192]];
      if (c.via === 'qemu-io' && hasTool('qemu-io')) {
        run('qemu-img', ['create', '-q', '-f', c.fmt, '-o', c.opts, path, String(c.size)]);
        const size = qemuInfo(path, c.fmt)['virtual-size'];
        const ops = spots.filter(([o, l]) => o + l <= size).map(([o, l], i) => `write -P ${0x11 * (i + 1)} ${o} ${l}`);
        run('qemu-io', ['-f', c.fmt, ...ops.flatMap((o) => ['-c', o]), path]);
      } else {
        const raw = join(dir, 'src.raw');
        scatteredRaw(raw, c.size, spots);
        run('qemu-img', ['convert', '-f', 'raw', '-O', c.fmt, '-o', c.opts, raw, path]);
      }
      const driver = c.fmt === 'vpc' ? vhdDriver : vhdxDriver;
      const { image, close } = await openWith(driver, path);
      try {
        const info = qemuInfo(path, c.fmt);
        expect(image.size).toBe(info['virtual-size']);
        const ours = await readAll(image);
        expect(Buffer.compare(ours, qemuRaw(path, c.fmt, dir))).toBe(0);
        const qm = dataRanges(qemuMap(path, c.fmt));
        const om = await ourDataRanges(image);
        if (c.fmt === 'vpc' && image.variant === 'dynamic') {
          expect(om).toEqual(qm);
        } else {
          // qemu reports whole VHDX images (no block-status callback) and fixed VHDs through the
          // host file's holes; diskit's data ranges must hold every non-zero byte qemu has.
          for (let o = 0; o < ours.length; o += 4096) {
            if (ours.subarray(o, o + 4096).some((b) => b !== 0)) expect(om.some(([s, e]) => s <= o && o < e)).toBe(true);
          }
          for (const [s, e] of om) expect(qm.some(([qs, qe]) => qs <= s && e <= qe)).toBe(true);
        }
        const insp = await image.inspect();
        expect(insp.virtualSize).toBe(image.size);
        expect((await image.check!()).problems.filter((p) => p.severity === 'error')).toEqual([]);
      } finally {
        await close();
      }
    });
  }

  it('follows qemu-img on which size a VHD has (CHS vs current_size by creator app)', async () => {
    const path = join(dir, 'chs.vhd');
    run('qemu-img', ['create', '-q', '-f', 'vpc', path, String(10 * MiB + 1234 * 512)]);
    const { image, close } = await openWith(vhdDriver, path);
    const v = image as VhdImage;
    expect(v.footer.creatorApp).toBe('qemu');
    expect(v.sizeSource).toBe('chs');
    expect(v.size).toBe(qemuInfo(path, 'vpc')['virtual-size']);
    await close();
  });
});
