/** The diskit CLI (built) on VHD/VHDX, beside qemu-img. Needs `pnpm build` first. */
import { beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';
import { dataRanges, join, qemuInfo, qemuMap, qemuRaw, scatteredRaw, tmp } from '../test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8' });
const MiB = 1 << 20;

describeWithTools(['qemu-img'], 'diskit CLI on VHD and VHDX', () => {
  let dir: string;
  let raw: string;
  beforeAll(() => {
    dir = tmp();
    raw = join(dir, 'src.raw');
    scatteredRaw(raw, 9 * MiB + 3 * 512, [[512, 1000], [4 * MiB, 300_000]], 11);
  });

  for (const [fmt, opts] of [['vpc', 'subformat=dynamic'], ['vpc', 'subformat=fixed'], ['vhdx', 'subformat=dynamic'], ['vhdx', 'subformat=fixed']] as const) {
    it(`${fmt} ${opts}: convert -O raw equals qemu-img's, info --json virtualSize matches, map agrees`, () => {
      const img = join(dir, `x-${fmt}-${opts.replace(/\W/g, '')}.${fmt === 'vpc' ? 'vhd' : 'vhdx'}`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', fmt, '-o', opts, raw, img]);
      const out = join(dir, `out-${fmt}-${opts.replace(/\W/g, '')}.raw`);
      diskit('convert', '-O', 'raw', '--force', img, out);
      expect(Buffer.compare(readFileSync(out), qemuRaw(img, fmt, dir))).toBe(0);
      const info = JSON.parse(diskit('info', '--json', img));
      expect(info.format).toBe(fmt === 'vpc' ? 'vhd' : 'vhdx');
      expect(info.virtualSize).toBe(qemuInfo(img, fmt)['virtual-size']);
      if (fmt === 'vpc' && opts === 'subformat=dynamic') {
        const ours = JSON.parse(diskit('map', '--json', img)) as { start: number; length: number; data: boolean }[];
        expect(dataRanges(ours)).toEqual(dataRanges(qemuMap(img, fmt)));
      }
    });
  }

  it('convert -O vhd / -O vhdx with options writes images qemu-img compares equal; bad options exit 2', () => {
    for (const [fmt, q, o] of [['vhd', 'vpc', 'subformat=fixed'], ['vpc', 'vpc', 'block_size=1M'], ['vhdx', 'vhdx', 'block_size=8M']]) {
      const out = join(dir, `w.${fmt}.${o.replace(/\W/g, '')}`);
      diskit('convert', '-O', fmt!, '-o', o!, raw, out);
      run('qemu-img', ['compare', '-f', 'raw', '-F', q!, raw, out]);
    }
    let code = 0;
    try {
      diskit('convert', '-O', 'vhd', '-o', 'nonsense=1', raw, join(dir, 'bad.vhd'));
    } catch (e) {
      code = (e as { status: number }).status;
    }
    expect(code).toBe(2);
  });
});
