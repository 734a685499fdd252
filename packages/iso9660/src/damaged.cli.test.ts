/**
 * The walker rule through the CLI, on xorriso images patched into real-world damage: a directory
 * that loops back to an ancestor, a Rock Ridge CE chain that loops. Everything reachable is listed
 * and extracted (compared with xorriso's listing of the unpatched image and the source bytes),
 * the skipped directory is named on stderr with its structure and offset, and the exit code is 1.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { describeWithTools, run } from '../../../test/tools.js';
import { tempDir, xorrisoList, hostFiles } from './test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });

const LONG = 'n'.repeat(220);
let dir: string, src: string, clean: string;

function findRecord(b: Buffer, name: string): number {
  const n = Buffer.from(name);
  for (let i = b.indexOf(n, 33); i >= 0; i = b.indexOf(n, i + 1)) {
    const r = i - 33;
    if (b[r + 32] === n.length && b[r]! >= 33 + n.length && b.readUInt32LE(r + 2) === b.readUInt32BE(r + 6)) return r;
  }
  throw new Error(`no record ${name}`);
}
const setBoth32 = (b: Buffer, off: number, v: number) => {
  b.writeUInt32LE(v, off);
  b.writeUInt32BE(v, off + 4);
};

/** /a/b's directory record made to point at /a's extent: b is its own parent. */
function ancestorLoop(): { iso: string; record: number } {
  const b = readFileSync(clean);
  const a = findRecord(b, 'A'), rb = findRecord(b, 'B');
  b.copy(b, rb + 2, a + 2, a + 18); // extent and size, both byte orders
  const iso = join(dir, 'loop.iso');
  writeFileSync(iso, b);
  return { iso, record: rb };
}

/** The long name's continuation area (in /c) rewritten as a CE pointing at itself. */
function ceLoop(): { iso: string; area: number } {
  const b = readFileSync(clean);
  const root = b.readUInt32LE(16 * 2048 + 156 + 2) * 2048;
  let ce = b.indexOf(Buffer.from([0x43, 0x45, 28, 1]), root);
  ce = b.indexOf(Buffer.from([0x43, 0x45, 28, 1]), ce + 1); // the first is the root's ER area
  const block = b.readUInt32LE(ce + 4), off = b.readUInt32LE(ce + 12);
  const area = block * 2048 + off;
  Buffer.from([0x43, 0x45, 28, 1]).copy(b, area);
  setBoth32(b, area + 4, block);
  setBoth32(b, area + 12, off);
  setBoth32(b, area + 20, 28);
  const iso = join(dir, 'celoop.iso');
  writeFileSync(iso, b);
  return { iso, area };
}

beforeAll(() => {
  dir = tempDir('damaged');
  src = join(dir, 'src');
  mkdirSync(join(src, 'a', 'b'), { recursive: true });
  mkdirSync(join(src, 'c'));
  writeFileSync(join(src, 'a', 'b', 'f.txt'), 'under b\n');
  writeFileSync(join(src, 'a', 'e.txt'), 'in a\n');
  writeFileSync(join(src, 'c', 'g.txt'), 'in c\n');
  writeFileSync(join(src, 'c', LONG), 'long\n');
  writeFileSync(join(src, 'top.txt'), 'top\n');
  clean = join(dir, 'clean.iso');
  run('xorriso', ['-as', 'mkisofs', '-R', '-o', clean, src]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const paths = (out: string) => out.split('\n').filter(Boolean);

describeWithTools(['xorriso'], 'damaged ISO directories through the CLI', () => {
  it('a directory pointing back at its parent: ls -R, tree and extract give everything else, name it on stderr and exit 1', () => {
    const { iso, record } = ancestorLoop();
    const reachable = xorrisoList(clean).map((e) => e.path).filter((p) => !p.startsWith('/a/b/'));
    const r = diskit('ls', '-R', iso);
    expect(r.status).toBe(1);
    expect(paths(r.stdout).sort()).toEqual(reachable);
    expect(r.stderr).toContain(`skipped /a/b: CorruptImageError: directory record at offset ${record}`);
    expect(r.stderr).toMatch(/the same as \/a\n/);

    const t = diskit('tree', iso);
    expect(t.status).toBe(1);
    expect(t.stdout).toContain('├── a/\n│   ├── b/\n│   └── e.txt\n├── c/\n');
    expect(t.stderr).toContain('skipped /a/b');

    const out = join(dir, 'out-loop');
    const x = diskit('extract', iso, '/', out);
    expect(x.status).toBe(1);
    expect(x.stderr).toContain(`skipped /a/b: CorruptImageError: directory record at offset ${record}`);
    for (const [p, bytes] of hostFiles(src)) {
      if (p.startsWith('/a/b/')) continue;
      expect(readFileSync(join(out, p)).equals(bytes), p).toBe(true);
    }

    const c = diskit('check', '--json', iso);
    expect(c.status).toBe(1);
    const rep = JSON.parse(c.stdout) as { problems: { structure: string; offset: number; message: string }[] };
    expect(rep.problems).toContainEqual(expect.objectContaining({ structure: 'directory record', offset: record }));
  });

  it('a Rock Ridge CE chain that loops: the rest of the directory is listed, ls/extract exit 1, check flags it', () => {
    const { iso, area } = ceLoop();
    const want = xorrisoList(clean).map((e) => e.path).filter((p) => p !== `/c/${LONG}`);
    const r = diskit('ls', '-R', iso);
    expect(r.status).toBe(1);
    expect(paths(r.stdout).sort()).toEqual(want);
    expect(r.stderr).toContain(`skipped /c: PartialDirectoryError: Rock Ridge continuation area at offset ${area}`);

    const out = join(dir, 'out-ce');
    const x = diskit('extract', iso, '/', out);
    expect(x.status).toBe(1);
    expect(readFileSync(join(out, 'c', 'g.txt'), 'utf8')).toBe('in c\n');
    expect(readFileSync(join(out, 'a', 'b', 'f.txt'), 'utf8')).toBe('under b\n');

    expect(diskit('check', clean).status).toBe(0);
    const c = diskit('check', '--json', iso);
    expect(c.status).toBe(1);
    const rep = JSON.parse(c.stdout) as { ok: boolean; problems: { structure: string; offset: number; message: string }[] };
    expect(rep.ok).toBe(false);
    expect(rep.problems).toContainEqual(expect.objectContaining({ structure: 'Rock Ridge continuation area', offset: area }));
  });

  it('a file whose zisofs data is damaged: extract names it, leaves no partial file, extracts the rest (exit 1)', () => {
    const zsrc = join(dir, 'zsrc');
    mkdirSync(zsrc);
    let text = '';
    for (let i = 0; text.length < 200_000; i++) text += `line ${i} of a file that compresses\n`;
    writeFileSync(join(zsrc, 'big.txt'), text);
    writeFileSync(join(zsrc, 'ok.txt'), 'fine\n');
    const iso = join(dir, 'zisofs.iso');
    run('xorriso', ['-outdev', iso, '-map', zsrc, '/', '-set_filter_r', '--zisofs', '/', '--']);
    const b = readFileSync(iso);
    const header = b.indexOf(Buffer.from([0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07]));
    const first = header + b.readUInt32LE(header + 16); // block 0's compressed bytes
    for (let i = 0; i < 16; i++) b[first + i]! ^= 0x5a;
    const bad = join(dir, 'zisofs-bad.iso');
    writeFileSync(bad, b);
    const out = join(dir, 'out-z');
    const x = diskit('extract', bad, '/', out);
    expect(x.status).toBe(1);
    expect(x.stderr).toMatch(/skipped \/big\.txt: CorruptImageError: zisofs block 0 of \/big\.txt/);
    expect(readFileSync(join(out, 'ok.txt'), 'utf8')).toBe('fine\n');
    expect(existsSync(join(out, 'big.txt'))).toBe(false);
    // the undamaged image extracts byte for byte
    const good = join(dir, 'out-zgood');
    expect(diskit('extract', iso, '/', good).status).toBe(0);
    expect(readFileSync(join(good, 'big.txt'), 'utf8')).toBe(text);
  });

  it('an undamaged image still lists, extracts and checks with exit 0', () => {
    const r = diskit('ls', '-R', clean);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(paths(r.stdout).sort()).toEqual(xorrisoList(clean).map((e) => e.path));
  });
});
