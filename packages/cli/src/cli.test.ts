import { describe, expect, it } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';

const cli = resolve(__dirname, '../bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'diskit-cli-'));

describe('diskit command conventions', () => {
  it('exit code 2 and one line for usage errors', () => {
    for (const args of [['frobnicate'], ['info'], ['convert', '-O', 'nope', 'a', 'b'], ['info', '--bogus-flag', 'x'], ['ls', 'x', '--names', 'klingon']]) {
      const r = diskit(...args);
      expect(r.status, args.join(' ')).toBe(2);
    }
  });

  it('exit code 1 with a clear message for a missing input, no stack trace without --debug', () => {
    const r = diskit('info', join(tmp, 'missing.img'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ENOENT|no such file/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('no filesystem diskit can read is an image problem: exit 1, not the usage code 2', () => {
    const img = join(tmp, 'blank.img');
    writeFileSync(img, new Uint8Array(1 << 20));
    for (const cmd of [['ls', img], ['tree', img], ['extract', img, '/', join(tmp, 'blank-out')]]) {
      const r = diskit(...cmd);
      expect(r.status, cmd.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/no filesystem diskit can read was found/);
    }
  });

  it('--help prints usage and exits 0', () => {
    const r = diskit('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('diskit convert');
  });

  it('map --json follows qemu-img map field names', () => {
    const img = join(tmp, 'm.img');
    writeFileSync(img, new Uint8Array(8192).fill(1));
    const rows = JSON.parse(diskit('map', '--json', img).stdout);
    expect(rows).toEqual([{ start: 0, length: 8192, depth: 0, present: true, zero: false, data: true }]);
  });
});

describeWithTools(['qemu-img'], 'diskit map on a sparse raw file agrees with qemu-img map', () => {
  it('reports the same data ranges', () => {
    const img = join(tmp, 'sparse.img');
    execFileSync('truncate', ['-s', '64M', img]);
    const blk = new Uint8Array(1 << 20).fill(7);
    const fd = require('node:fs').openSync(img, 'r+');
    for (const mib of [1, 2, 40]) require('node:fs').writeSync(fd, blk, 0, blk.length, mib << 20);
    require('node:fs').closeSync(fd);
    const ours = JSON.parse(diskit('map', '--json', img).stdout).filter((r: { data: boolean }) => r.data).map((r: { start: number; length: number }) => [r.start, r.length]);
    const theirs = JSON.parse(run('qemu-img', ['map', '-f', 'raw', '--output=json', img])).filter((r: { data: boolean }) => r.data).map((r: { start: number; length: number }) => [r.start, r.length]);
    expect(ours).toEqual(theirs);
  });
});

describeWithTools(['qemu-img'], 'diskit create vhd|vhdx --parent', () => {
  for (const fmt of ['vpc', 'vhdx'] as const) it(`makes a ${fmt} child that reads as its parent, leaving the parent untouched`, () => {
    const raw = join(tmp, 'base.raw');
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i >>> 12) | 1;
    writeFileSync(raw, data);
    const base = join(tmp, `base.${fmt}`);
    run('qemu-img', ['convert', '-f', 'raw', '-O', fmt, raw, base]);
    const before = require('node:fs').readFileSync(base);
    const child = join(tmp, `child.${fmt}`);
    expect(diskit('create', fmt === 'vpc' ? 'vhd' : 'vhdx', '--parent', base, child).status).toBe(0);
    const info = JSON.parse(diskit('info', '--json', child).stdout);
    expect(info.variant).toMatch(/differencing/);
    const out = join(tmp, `child-${fmt}.raw`);
    expect(diskit('convert', '-O', 'raw', child, out).status).toBe(0);
    const ref = join(tmp, `base-ref-${fmt}.raw`);
    run('qemu-img', ['convert', '-f', fmt, '-O', 'raw', base, ref]);
    execFileSync('cmp', [ref, out]);
    expect(Buffer.compare(require('node:fs').readFileSync(base), before)).toBe(0);
  });
});

describeWithTools(['xorriso'], 'an ISO inside other containers still lists', () => {
  it('lists the same tree through VHD, VHDX and DMG', () => {
    const dir = join(tmp, 'isotree');
    require('node:fs').mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'a.txt'), 'a'.repeat(10000));
    writeFileSync(join(dir, 'b.txt'), 'b');
    const iso = join(tmp, 'in-containers.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, dir]);
    const listing = (img: string) => {
      const r = diskit('ls', '-R', '--json', img);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const ref = listing(iso);
    expect(ref.map((e: { path: string }) => e.path).sort()).toEqual(['/b.txt', '/sub', '/sub/a.txt']);
    for (const fmt of ['vhd', 'vhdx', 'dmg']) {
      const out = join(tmp, `iso-in.${fmt}`);
      expect(diskit('convert', '-O', fmt, iso, out).status).toBe(0);
      expect(listing(out)).toEqual(ref);
    }
  });
});
