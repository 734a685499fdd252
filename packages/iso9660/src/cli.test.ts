import { rmSync } from 'node:fs';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { readFileSync, writeFileSync, existsSync, lstatSync, readlinkSync } from 'node:fs';
import { describeWithTools, run } from '../../../test/tools.js';
import { makeTree, tempDir, xorrisoList, hostFiles, hostLinks, listTree, permString, typeChar } from './test/helpers.js';
import { cueSheet } from './cdsector.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

let dir: string;
let src: string;

beforeAll(() => {
  dir = tempDir('isocli');
  src = join(dir, 'src');
  makeTree(src, { fifo: false }); // diskit extract skips special files (exit 1)
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface JsonEntry { path: string; type: string; size: number; mode?: number; target?: string }

function compareJson(ours: JsonEntry[], iso: string): void {
  const theirs = xorrisoList(iso);
  const t = (e: JsonEntry) => typeChar(e);
  const a = [...ours].sort((x, y) => (x.path < y.path ? -1 : 1)).map((e) => ({ path: e.path, type: t(e), perms: e.mode !== undefined ? permString(e.mode) : undefined, size: e.type === 'file' ? e.size : undefined, target: e.target }));
  const b = theirs.map((e) => ({ path: e.path, type: e.type, perms: e.perms, size: e.type === '-' ? e.size : undefined, target: e.target }));
  expect(a).toEqual(b);
}

describeWithTools(['xorriso', 'genisoimage', 'isoinfo', 'bchunk'], 'diskit CLI on ISO9660', () => {
  it('diskit create iso → diskit ls -R --json matches xorriso; diskit extract is byte-identical', () => {
    const iso = join(dir, 'made.iso');
    let r = diskit('create', 'iso', src, iso, '-V', 'CLITEST');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    r = diskit('ls', '-R', '--json', iso);
    expect(r.status).toBe(0);
    const entries = JSON.parse(r.stdout) as JsonEntry[];
    compareJson(entries, iso);
    expect(entries.map((e) => e.path).sort()).toEqual(listTree(src).map((p) => '/' + p).sort());
    const out = join(dir, 'extracted');
    r = diskit('extract', iso, '/', out);
    expect(r.status, r.stderr).toBe(0);
    for (const [p, b] of hostFiles(src)) expect(readFileSync(join(out, p)).equals(b), p).toBe(true);
    for (const [p, target] of hostLinks(src)) {
      if (existsSync(join(out, p)) || lstatSync(join(out, p), { throwIfNoEntry: false })) expect(readlinkSync(join(out, p))).toBe(target);
    }
    r = diskit('info', '--json', iso);
    const info = JSON.parse(r.stdout);
    expect(info.format).toBe('iso');
    expect(info.volumeId).toBe('CLITEST');
  });

  it('diskit ls -R --json on xorriso and genisoimage ISOs matches xorriso; --names joliet works', () => {
    const iso = join(dir, 'xo.iso');
    run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-o', iso, src]);
    const r = diskit('ls', '-R', '--json', iso);
    expect(r.status).toBe(0);
    compareJson(JSON.parse(r.stdout), iso);
    const j = diskit('ls', '--names', 'joliet', '--json', iso);
    expect(j.status).toBe(0);
    expect((JSON.parse(j.stdout) as JsonEntry[]).every((e) => e.mode === undefined)).toBe(true);
    const g = join(dir, 'gen.iso');
    run('genisoimage', ['-quiet', '-R', '-J', '-o', g, src]);
    compareJson(JSON.parse(diskit('ls', '-R', '--json', g).stdout), g);
  });

  it('diskit convert -O bin writes 2352-byte sectors and a .cue that bchunk turns back into the ISO', () => {
    const iso = join(dir, 'made.iso');
    const bin = join(dir, 'made.bin');
    const r = diskit('convert', '-O', 'bin', iso, bin, '--force');
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'made.cue'), 'utf8')).toBe(cueSheet('made.bin'));
    run('bchunk', ['made.bin', 'made.cue', 'back'], { cwd: dir });
    expect(readFileSync(join(dir, 'back01.iso')).equals(readFileSync(iso))).toBe(true);
    // and back: iso create copies the 2048-byte user data
    const again = join(dir, 'again.iso');
    const c = diskit('convert', '-O', 'iso', bin, again, '--force');
    expect(c.status, c.stderr).toBe(0);
    expect(readFileSync(again).equals(readFileSync(iso))).toBe(true);
    const ls = diskit('ls', bin);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('random.bin');
    // the .cue sheet opens the .bin beside it
    const viaCue = diskit('ls', join(dir, 'made.cue'));
    expect(viaCue.status, viaCue.stderr).toBe(0);
    expect(viaCue.stdout).toBe(ls.stdout);
    expect(JSON.parse(diskit('info', '--json', join(dir, 'made.cue')).stdout).format).toBe('bin');
  });

  it('create iso with the output inside the source folder leaves the output out', () => {
    const inner = join(src, 'self.iso');
    const r = diskit('create', 'iso', src, inner);
    expect(r.status, r.stderr).toBe(0);
    const names = (JSON.parse(diskit('ls', '--json', inner).stdout) as JsonEntry[]).map((e) => e.path);
    expect(names.some((n) => /self\.iso|diskit-.*\.tmp/.test(n))).toBe(false);
    rmSync(inner);
  });

  it('create iso: usage errors exit 2, an existing output needs --force, nothing partial is left', () => {
    expect(diskit('create', 'iso', src).status).toBe(2);
    expect(diskit('create', 'iso', join(dir, 'nope'), join(dir, 'x.iso')).status).toBe(2);
    expect(diskit('create', 'iso', src, join(dir, 'x.iso'), '--bogus').status).toBe(2);
    expect(diskit('create', 'iso', src, join(dir, 'x.iso'), '-V', 'X'.repeat(40)).status).toBe(2);
    expect(existsSync(join(dir, 'x.iso'))).toBe(false);
    expect(diskit('create', 'iso', src, join(dir, 'made.iso')).status).toBe(2);
    expect(diskit('create', 'iso', src, join(dir, 'made.iso'), '--force', '--no-joliet', '--no-rock-ridge').status).toBe(0);
    expect(run('isoinfo', ['-d', '-i', join(dir, 'made.iso')])).toMatch(/NO Joliet present/);
  });
});
