/**
 * `-o backing=PATH` (qemu-img's name): a differencing VHD/VHDX whose parent was moved is read through
 * the parent the user names, whose identity is still checked. Parents made by qemu-img from an ISO
 * (so ls/extract have a filesystem to read), children by `diskit create`, the chain's bytes by 7-Zip
 * before the move. Needs `pnpm build` first.
 */
import { beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';
import { vhdDriver, vhdxDriver } from './index.js';
import { join, openWith, prng, tmp } from '../test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });

describeWithTools(['qemu-img', '7z', 'genisoimage'], 'differencing images whose parent was moved: -o backing=PATH', () => {
  let dir: string;
  const readme = prng(5, 300_000);
  beforeAll(() => {
    dir = tmp();
    const src = join(dir, 'src');
    mkdirSync(join(src, 'docs'), { recursive: true });
    writeFileSync(join(src, 'README.TXT'), readme);
    writeFileSync(join(src, 'docs', 'A.TXT'), 'hello from the parent\n');
    run('genisoimage', ['-quiet', '-R', '-o', join(dir, 'base.iso'), src]);
  });

  for (const [fmt, qfmt, driver, qopts] of [['vhd', 'vpc', vhdDriver, 'force_size=on'], ['vhdx', 'vhdx', vhdxDriver, 'block_size=1M']] as const) {
    it(`${fmt}: info, convert, map, check, dump, ls, tree and extract read the moved parent; the chain reads as 7-Zip read it in place`, async () => {
      const d = join(dir, fmt);
      mkdirSync(d);
      const base = join(d, `base.${fmt}`);
      const child = join(d, `child.${fmt}`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', qfmt, '-o', qopts, join(dir, 'base.iso'), base]);
      expect(diskit('create', fmt, '--parent', base, child).status).toBe(0);
      // Write into the child: the last sectors (the ISO's padding) and a sub-sector piece.
      const { image, close } = await openWith(driver, child, true);
      const tailAt = image.size - 64 * 1024;
      await image.write(prng(9, 64 * 1024), tailAt);
      await image.write(prng(10, 100), tailAt - 1000);
      await close();
      const x = join(d, '7z');
      run('7z', ['x', '-y', `-t${fmt}`, `-o${x}`, child]);
      const expected = readFileSync(join(x, readdirSync(x)[0]!));

      // The parent moves (and is renamed, so no locator or file name finds it).
      mkdirSync(join(d, 'moved'));
      const moved = join(d, 'moved', `renamed.${fmt}`);
      renameSync(base, moved);
      const lost = diskit('info', child);
      expect(lost.status).toBe(1);
      expect(lost.stderr).toMatch(/CorruptImageError: VHDX? parent locator .*could be opened/);

      const o = ['-o', `backing=${moved}`];
      const info = diskit('info', '--json', ...o, child);
      expect(info.status, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout).parent.name).toBe(moved);
      const out = join(d, 'flat.raw');
      expect(diskit('convert', '-O', 'raw', ...o, child, out).status).toBe(0);
      expect(Buffer.compare(readFileSync(out), expected)).toBe(0);
      const map = JSON.parse(diskit('map', '--json', ...o, child).stdout) as { start: number; length: number; data: boolean }[];
      expect(map.some((e) => e.data && e.start <= tailAt && tailAt < e.start + e.length)).toBe(true);
      expect(diskit('check', ...o, child).status).toBe(0);
      expect(diskit('dump', ...o, child).status).toBe(0);
      const ls = diskit('ls', '-R', ...o, child);
      expect(ls.status, ls.stderr).toBe(0);
      expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['/README.TXT', '/docs', '/docs/A.TXT']);
      expect(diskit('tree', ...o, child).stdout).toMatch(/A\.TXT/);
      const ex = join(d, 'extracted');
      expect(diskit('extract', ...o, child, '/README.TXT', ex).status).toBe(0);
      expect(Buffer.compare(readFileSync(join(ex, 'README.TXT')), Buffer.from(readme))).toBe(0);

      // The wrong disk under -o backing is refused: another qemu-img image of the same size.
      const other = join(d, `other.${fmt}`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', qfmt, '-o', qopts, join(dir, 'base.iso'), other]);
      for (const cmd of [['info'], ['convert', '-O', 'raw', '--force'], ['ls']]) {
        const args = cmd[0] === 'convert' ? [...cmd, ...o.slice(0, 1), `backing=${other}`, child, join(d, 'no.raw')] : [...cmd, '-o', `backing=${other}`, child];
        const r = diskit(...args);
        expect(r.status, args.join(' ')).toBe(1);
        expect(r.stderr).toMatch(fmt === 'vhd' ? /CorruptImageError: .*parent unique id/ : /CorruptImageError: .*DataWriteGuid/);
      }
      // A backing file that does not exist, and -o keys reading does not know.
      expect(diskit('info', '-o', `backing=${join(d, 'nowhere')}`, child).status).toBe(1);
      expect(diskit('info', '-o', 'nonsense=1', child).status).toBe(2);
    });
  }

  for (const [fmt, qfmt] of [['vhd', 'vpc'], ['vhdx', 'vhdx']] as const) {
    it(`${fmt}: a moved parent finds its own parent beside it (locators are relative to the file that holds them)`, () => {
      const d = join(dir, `${fmt}-chain`);
      mkdirSync(join(d, 'moved'), { recursive: true });
      run('qemu-img', ['convert', '-f', 'raw', '-O', qfmt, join(dir, 'base.iso'), join(d, `base.${fmt}`)]);
      expect(diskit('create', fmt, '--parent', join(d, `base.${fmt}`), join(d, `mid.${fmt}`)).status).toBe(0);
      expect(diskit('create', fmt, '--parent', join(d, `mid.${fmt}`), join(d, `top.${fmt}`)).status).toBe(0);
      const x = join(d, '7z');
      run('7z', ['x', '-y', `-t${fmt}`, `-o${x}`, join(d, `top.${fmt}`)]);
      for (const n of ['base', 'mid']) renameSync(join(d, `${n}.${fmt}`), join(d, 'moved', `${n}.${fmt}`));
      const out = join(d, 'flat.raw');
      const r = diskit('convert', '-O', 'raw', '-o', `backing=${join(d, 'moved', `mid.${fmt}`)}`, join(d, `top.${fmt}`), out);
      expect(r.status, r.stderr).toBe(0);
      expect(Buffer.compare(readFileSync(out), readFileSync(join(x, readdirSync(x)[0]!)))).toBe(0);
    });
  }
});
