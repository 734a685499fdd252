/**
 * CUE sheets as Windows tools write them: CRLF lines and a FILE name in another case than the file
 * on disk. The BIN is found case-insensitively beside the sheet; a missing one is a typed error
 * naming the CUE line, not a raw ENOENT.
 */
import { readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { describeWithTools, run } from '../../../test/tools.js';
import { tempDir, xorrisoList } from './test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
let dir: string, iso: string;

beforeAll(() => {
  dir = tempDir('cue');
  mkdirSync(join(dir, 'src', 'docs'), { recursive: true });
  writeFileSync(join(dir, 'src', 'docs', 'readme.txt'), 'hello from a CD\n');
  writeFileSync(join(dir, 'src', 'data.bin'), Buffer.alloc(100_000, 7));
  iso = join(dir, 'isofs.iso');
  run('xorriso', ['-as', 'mkisofs', '-R', '-o', iso, join(dir, 'src')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools(['xorriso'], 'CUE sheets written on Windows', () => {
  it('FILE "ISOFS-M1.BIN" finds isofs-m1.bin: ls matches xorriso, the data track converts back to the ISO', () => {
    expect(diskit('convert', '-O', 'bin', iso, join(dir, 'made.bin')).status).toBe(0);
    renameSync(join(dir, 'made.bin'), join(dir, 'isofs-m1.bin'));
    const cue = join(dir, 'isofs-m1.cue');
    writeFileSync(cue, 'FILE "ISOFS-M1.BIN" BINARY\r\n  TRACK 01 MODE1/2352\r\n    INDEX 01 00:00:00\r\n');
    const r = diskit('ls', '-R', cue);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(xorrisoList(iso).map((e) => e.path));
    // an absolute Windows path (as some rippers write): the last part, beside the sheet
    const abs = join(dir, 'abs.cue');
    writeFileSync(abs, 'FILE "C:\\Rips\\Disc One\\ISOFS-M1.BIN" BINARY\r\n  TRACK 01 MODE1/2352\r\n');
    const a = diskit('ls', '-R', abs);
    expect(a.stderr).toBe('');
    expect(a.stdout).toBe(r.stdout);
    const back = join(dir, 'back.iso');
    expect(diskit('convert', '-O', 'raw', cue, back).status).toBe(0);
    expect(readFileSync(back).equals(readFileSync(iso))).toBe(true);
  });

  it('a missing BIN is an error naming the CUE line (exit 1)', () => {
    const cue = join(dir, 'lost.cue');
    writeFileSync(cue, 'REM made on Windows\r\nFILE "LOST.BIN" BINARY\r\n  TRACK 01 MODE1/2352\r\n');
    const r = diskit('info', cue);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/CorruptImageError: CUE sheet line 2 at offset 21: expected the file 'LOST.BIN' it names, beside the sheet, found no such file/);
    expect(r.stderr).not.toMatch(/ENOENT/);
  });
});
