import { rmSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import { AtomicOutput } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { buildIso } from './node.js';
import { makeTree, tempDir, xorrisoList, ourList, compareWithXorriso, mountIso, readAll, hostFiles, hostLinks, listTree, sevenZipPaths, isoinfoList } from './test/helpers.js';

let dir: string;
let src: string;

async function build(out: string, opts: Parameters<typeof buildIso>[2] = {}, from = src) {
  const sink = await AtomicOutput.create(out, { force: true });
  try {
    const r = await buildIso(from, sink, opts);
    await sink.commit();
    return r;
  } catch (e) {
    await sink.abort();
    throw e;
  }
}

beforeAll(() => {
  dir = tempDir('build');
  src = join(dir, 'src');
  makeTree(src);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sorted = (a: string[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

describeWithTools(['xorriso', 'osirrox', 'isoinfo', '7z', 'mkfifo', 'mknod'], 'ISOs built by buildIso', () => {
  it('are accepted by xorriso, isoinfo and 7z t; list the source tree; extract byte-identical', async () => {
    const iso = join(dir, 'built.iso');
    await build(iso, { volumeId: 'DISKIT_TEST' });
    // xorriso lists the same tree (Rock Ridge names, modes, symlink targets)
    const theirs = xorrisoList(iso);
    expect(theirs.map((e) => e.path)).toEqual(sorted(listTree(src).map((p) => '/' + p)));
    compareWithXorriso(await ourList(iso), theirs);
    compareWithXorriso(await ourList(iso), isoinfoList(iso));
    const links = hostLinks(src);
    for (const e of theirs.filter((x) => x.type === 'l')) expect(e.target).toBe(links.get(e.path));
    // isoinfo parses every descriptor and both trees
    const d = run('isoinfo', ['-d', '-i', iso]);
    expect(d).toMatch(/Volume id: DISKIT_TEST/);
    expect(d).toMatch(/Rock Ridge signatures version 1 found/);
    expect(d).toMatch(/Joliet with UCS level 3 found/);
    run('isoinfo', ['-R', '-l', '-i', iso]);
    run('isoinfo', ['-J', '-l', '-i', iso]);
    run('isoinfo', ['-l', '-i', iso]);
    // 7z tests and extracts (Joliet tree) byte-identical
    expect(run('7z', ['t', iso])).toMatch(/Everything is Ok/);
    const x7 = join(dir, 'built.7z');
    run('7z', ['x', '-y', `-o${x7}`, iso]);
    const host = hostFiles(src);
    const got7 = hostFiles(x7);
    for (const l of links.keys()) got7.delete(l); // Joliet has no symlinks: 7z makes empty files
    got7.delete('/a-fifo');
    for (const [p, b] of got7) {
      // Joliet names of 64+ characters are truncated: compare by the (unique) truncated prefix
      const match = host.get(p) ?? [...host].find(([hp]) => hp.startsWith(p.replace(/;1$/, '')))?.[1];
      expect(match && Buffer.compare(match, b) === 0, p).toBe(true);
    }
    expect(got7.size).toBe(host.size);
    // osirrox extracts Rock Ridge byte-identical
    const xo = join(dir, 'built.xo');
    run('osirrox', ['-indev', iso, '-extract', '/', xo]);
    const gotXo = hostFiles(xo);
    expect(sorted([...gotXo.keys()])).toEqual(sorted([...host.keys()]));
    for (const [p, b] of host) expect(Buffer.compare(gotXo.get(p)!, b), p).toBe(0);
    // our own reader agrees
    const { vol, dev } = await mountIso(iso);
    for (const [p, b] of host) expect(Buffer.compare(Buffer.from(await readAll(vol, p)), b), p).toBe(0);
    await dev.close();
  });

  it('passes xorriso -check_md5 style load and our path-table check', async () => {
    const iso = join(dir, 'built.iso');
    const out = run('xorriso', ['-abort_on', 'FAILURE', '-indev', iso, '-find', '/', '-type', 'f', '-exec', 'lsdl']);
    expect(out.length).toBeGreaterThan(0);
    // -check_md5 needs libisofs' own MD5 tags (only xorriso writes them); -check_media reads every block
    const media = run('xorriso', ['-indev', iso, '-check_media', '--']);
    const blocks = readFileSync(iso).length / 2048;
    expect(media).toMatch(new RegExp(`Media region :\\s+0 ,\\s+${blocks} , \\+ good`));
    const { isoFormat } = await import('./formats.js');
    const { FileDevice } = await import('@diskit/core/node');
    const f = await FileDevice.open(iso);
    const img = await isoFormat.open(f);
    const rep = await img.check!();
    expect(rep.problems).toEqual([]);
    await f.close();
  });

  it('devices and fifos keep their type and numbers (PN) as xorriso reads them', async () => {
    if (process.getuid?.() !== 0) return; // mknod needs root
    const dsrc = join(dir, 'devsrc');
    mkdirSync(dsrc);
    run('mknod', [join(dsrc, 'null'), 'c', '1', '3']);
    run('mknod', [join(dsrc, 'loop7'), 'b', '7', '7']);
    run('mkfifo', [join(dsrc, 'fifo')]);
    const iso = join(dir, 'dev.iso');
    await build(iso, {}, dsrc);
    const out = run('xorriso', ['-indev', iso, '-find', '/', '-exec', 'lsdl']);
    expect(out).toMatch(/^crw-r--r--\s+1\s+0\s+0\s+1,3 .*'\/null'$/m);
    expect(out).toMatch(/^brw-r--r--\s+1\s+0\s+0\s+7,7 .*'\/loop7'$/m);
    expect(out).toMatch(/^prw-r--r--\s.*'\/fifo'$/m);
    const ours = await ourList(iso);
    expect(ours.map((e) => [e.name, e.type, (e.mode ?? 0) & 0o170000])).toEqual([['fifo', 'other', 0o010000], ['loop7', 'other', 0o060000], ['null', 'other', 0o020000]]);
  });

  it('hard-linked files share one copy of their data; osirrox extracts both', async () => {
    const hsrc = join(dir, 'hardsrc');
    mkdirSync(hsrc);
    writeFileSync(join(hsrc, 'a.bin'), Buffer.alloc(1 << 20, 7));
    run('ln', [join(hsrc, 'a.bin'), join(hsrc, 'b.bin')]);
    writeFileSync(join(hsrc, 'c.bin'), Buffer.alloc(1 << 20, 7));
    const iso = join(dir, 'hard.iso');
    await build(iso, {}, hsrc);
    const { vol, dev } = await mountIso(iso);
    const ra = await vol.fileRuns('/a.bin'), rb = await vol.fileRuns('/b.bin'), rc = await vol.fileRuns('/c.bin');
    expect(rb).toEqual(ra);
    expect(rc).not.toEqual(ra);
    await dev.close();
    expect(readFileSync(iso).length).toBeLessThan(3 << 20);
    const x = join(dir, 'hard.x');
    run('osirrox', ['-indev', iso, '-extract', '/', x]);
    for (const n of ['a.bin', 'b.bin', 'c.bin']) expect(readFileSync(join(x, n)).equals(Buffer.alloc(1 << 20, 7)), n).toBe(true);
  });

  it('is deterministic: same tree + SOURCE_DATE_EPOCH → byte-identical images', async () => {
    const a = join(dir, 'det-a.iso'), b = join(dir, 'det-b.iso');
    await build(a, { sourceDateEpoch: 1_700_000_000 });
    await new Promise((r) => setTimeout(r, 1100));
    await build(b, { sourceDateEpoch: 1_700_000_000 });
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
    // a copy of the tree elsewhere (cp -a keeps times and modes) gives the same bytes too
    const copy = join(dir, 'copy-of-src');
    run('cp', ['-a', src, copy]);
    const c = join(dir, 'det-c.iso');
    await build(c, { sourceDateEpoch: 1_700_000_000 }, copy);
    expect(Buffer.compare(readFileSync(a), readFileSync(c))).toBe(0);
    // SOURCE_DATE_EPOCH from the environment
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    try {
      const d = join(dir, 'det-d.iso');
      await build(d);
      expect(Buffer.compare(readFileSync(a), readFileSync(d))).toBe(0);
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
    }
  });

  it('without Rock Ridge and Joliet lists ISO names; without Joliet 7z still reads it', async () => {
    const iso = join(dir, 'plain.iso');
    await build(iso, { rockRidge: false, joliet: false });
    const ours = await ourList(iso);
    const theirs = sorted(run('isoinfo', ['-f', '-i', iso]).split('\n').filter(Boolean).map((l) => l.replace(/;\d+$/, '').replace(/\.$/, '')));
    expect(sorted(ours.map((e) => e.path))).toEqual(theirs);
    expect(run('7z', ['t', iso])).toMatch(/Everything is Ok/);
    expect(sevenZipPaths(iso).length).toBe(ours.length);
  });
});
