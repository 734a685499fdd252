/** The diskit CLI (built) on VHD/VHDX, beside qemu-img. Needs `pnpm build` first. */
import { beforeAll, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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

  it('checksum policy: a bad VHD footer or dynamic header checksum is a warning on stderr for info/map/dump/convert, an error for check', () => {
    const good = join(dir, 'sum.vhd');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic,force_size=on', raw, good]);
    const bytes = readFileSync(good);
    const footerAt = bytes.length - 512;
    for (const [what, at, structure, offset] of [['footer', footerAt + 40, 'VHD footer', footerAt], ['dynamic header', 512 + 40, 'VHD dynamic header', 512]] as const) {
      const bad = join(dir, `bad-${what.replace(' ', '-')}.vhd`);
      const b = Buffer.from(bytes);
      b[at + 60] ^= 0x01; // a byte no reader uses (reserved/padding): only the checksum notices
      writeFileSync(bad, b);
      const warning = new RegExp(`^diskit: warning: ${structure} at offset ${offset}: checksum 0x[0-9a-f]+ does not match the computed 0x[0-9a-f]+`, 'm');
      for (const args of [['info', bad], ['map', bad], ['dump', bad]]) {
        const r = spawnSync('node', [cli, ...args], { encoding: 'utf8' });
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stderr).toMatch(warning);
      }
      const out = join(dir, `bad-${what.replace(' ', '-')}.raw`);
      const conv = spawnSync('node', [cli, 'convert', '-O', 'raw', '--force', bad, out], { encoding: 'utf8' });
      expect(conv.status).toBe(0);
      expect(conv.stderr).toMatch(warning);
      expect(Buffer.compare(readFileSync(out), qemuRaw(good, 'vpc', dir))).toBe(0);
      const chk = spawnSync('node', [cli, 'check', bad], { encoding: 'utf8' });
      expect(chk.status).toBe(1);
      expect(chk.stdout).toMatch(new RegExp(`^error: ${structure}: checksum .* \\(offset ${offset}\\)$`, 'm'));
      expect(chk.stderr).not.toMatch(/warning/);
    }
    // A sound image: no warnings at all.
    expect(spawnSync('node', [cli, 'info', good], { encoding: 'utf8' }).stderr).toBe('');
  });

  it('checksum policy: a VHDX header copy with a bad CRC32C is a warning naming it, an error for check', () => {
    const good = join(dir, 'sum.vhdx');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic,block_size=1M', raw, good]);
    const b = readFileSync(good);
    b[64 * 1024 + 200] ^= 0x01; // reserved bytes of header 1
    const bad = join(dir, 'bad-header.vhdx');
    writeFileSync(bad, b);
    const r = spawnSync('node', [cli, 'info', bad], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^diskit: warning: VHDX header at offset 65536: header 1: CRC32C 0x[0-9a-f]+ does not match the computed 0x[0-9a-f]+; using header 2$/m);
    const chk = spawnSync('node', [cli, 'check', bad], { encoding: 'utf8' });
    expect(chk.status).toBe(1);
    expect(chk.stdout).toMatch(/^error: VHDX header: header 1 .*\(offset 65536\)$/m);
  });
});
