import { it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { openSync, writeSync, closeSync, ftruncateSync, writeFileSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readBytes } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { buildIso } from './node.js';
import { MAX_EXTENT } from './build/index.js';
import { tempDir, xorrisoList, ourList, compareWithXorriso, mountIso } from './test/helpers.js';

const SIZE = 4500 * 1048576;
const MARKS: [number, string][] = [[0, 'HEAD'], [MAX_EXTENT - 3, 'ACROSS-THE-EXTENT-BOUNDARY'], [4294967290, 'PAST-4GiB'], [SIZE - 4, 'TAIL']];
let dir: string;
let src: string;

beforeAll(() => {
  dir = tempDir('big');
  src = join(dir, 'src');
  mkdirSync(src);
  const fd = openSync(join(src, 'huge.bin'), 'w');
  ftruncateSync(fd, SIZE);
  for (const [off, s] of MARKS) writeSync(fd, Buffer.from(s), 0, s.length, off);
  closeSync(fd);
  writeFileSync(join(src, 'small.txt'), 'small\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectMarks(iso: string): Promise<void> {
  const { vol, dev } = await mountIso(iso);
  try {
    const f = await vol.openFile('/huge.bin');
    expect(f.size).toBe(SIZE);
    expect((await vol.fileRuns('/huge.bin')).length).toBe(2);
    for (const [off, s] of MARKS) {
      const a = Math.max(0, off - 5), b = Math.min(SIZE, off + s.length + 5);
      const got = await readBytes(f, a, b - a);
      const want = Buffer.alloc(b - a);
      want.write(s, off - a);
      expect(Buffer.from(got).toString('latin1')).toBe(want.toString('latin1'));
    }
  } finally {
    await dev.close();
  }
}

describeWithTools(['xorriso', 'isoinfo'], 'files over 4 GiB (multi-extent)', () => {
  it('reads a 4.4 GiB file written by xorriso -iso-level 3 as one file of two extents', async () => {
    const iso = join(dir, 'xo.iso');
    run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-iso-level', '3', '-o', iso, src]);
    compareWithXorriso(await ourList(iso), xorrisoList(iso));
    await expectMarks(iso);
    rmSync(iso);
  });

  it('builds it as multi-extent (sparse output), and xorriso lists and extracts the same bytes', async () => {
    const iso = join(dir, 'ours.iso');
    const sink = await AtomicOutput.create(iso, { force: true });
    await buildIso(src, sink, {});
    await sink.commit();
    const st = statSync(iso);
    expect(st.blocks * 512).toBeLessThan(50 << 20); // holes stay holes
    const theirs = xorrisoList(iso);
    expect(theirs.find((e) => e.path === '/huge.bin')?.size).toBe(SIZE);
    compareWithXorriso(await ourList(iso), theirs);
    await expectMarks(iso);
    for (const [off, s] of MARKS) {
      const out = join(dir, `cut-${off}`);
      run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract_cut', '/huge.bin', String(off), String(s.length), out]);
      expect(readFileSync(out).toString('latin1')).toBe(s);
    }
    expect(run('isoinfo', ['-l', '-i', iso])).toMatch(/HUGE\.BIN;1/);
  });
});
