/**
 * The diskit CLI (built: `pnpm build` first) on .sparseimage files and .sparsebundle folders:
 * info, map, dump, check, convert both ways, ls/extract through a bundle. Judged by qemu-img and
 * 7-Zip reading what the sparse images convert to, and by xorriso's own listing of the ISO inside.
 */
import { beforeAll, afterAll, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8' });
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SYNTHETIC = resolve(sharedImagesDir(), 'apple/dmg-forensic--synthetic.sparseimage');

let dir: string;
let src: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sparsecli-'));
  // 64 MiB with data in three places: a sparse source.
  src = join(dir, 'src.raw');
  const fd = openSync(src, 'w');
  writeSync(fd, randomBytes(300_000), 0, 300_000, 4096);
  writeSync(fd, randomBytes(2 << 20), 0, 2 << 20, 30 << 20);
  writeSync(fd, randomBytes(512), 0, 512, (64 << 20) - 512);
  closeSync(fd);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools(['qemu-img', '7z', 'xorriso'], 'diskit CLI on sparse images and bundles', () => {
  it('the shared synthetic .sparseimage: info, map, convert to raw (sha256 from the README)', () => {
    if (!existsSync(SYNTHETIC)) throw new Error(`missing ${SYNTHETIC}`);
    const info = JSON.parse(diskit('info', '--json', SYNTHETIC));
    expect(info).toMatchObject({ format: 'sparseimage', variant: 'UDSP', virtualSize: 3072, fileSize: 6144, bandSize: 1024, allocatedBands: 2 });
    const map = JSON.parse(diskit('map', '--json', SYNTHETIC));
    expect(map.map((e: { start: number; length: number; data: boolean; present: boolean }) => [e.start, e.length, e.data, e.present])).toEqual([
      [0, 1024, true, true], [1024, 1024, false, false], [2048, 1024, true, true],
    ]);
    const out = join(dir, 'synthetic.raw');
    diskit('convert', '-O', 'raw', '--force', SYNTHETIC, out);
    expect(sha(readFileSync(out))).toBe('e39aabdc775e02172773ba64441e05221984b70307e8f728a2b42113c5a15b9a');
  });

  it('raw → sparseimage → raw and → vhd: equal to the source (qemu-img reads the VHD), holes kept', () => {
    const img = join(dir, 'x.sparseimage');
    diskit('convert', '-O', 'sparseimage', '--force', src, img);
    // 1 MiB bands: 1 + 2 + 1 of them hold data; the file is a small part of the 64 MiB disk.
    expect(statSync(img).size).toBe(4096 + 4 * (1 << 20));
    const info = JSON.parse(diskit('info', '--json', img));
    expect(info).toMatchObject({ format: 'sparseimage', virtualSize: 64 << 20, allocatedBands: 4, indexNodes: 0 });
    const map = JSON.parse(diskit('map', '--json', img));
    expect(map.filter((e: { present: boolean }) => !e.present).reduce((s: number, e: { length: number }) => s + e.length, 0)).toBe(60 << 20);
    expect(spawnSync('node', [cli, 'check', img]).status).toBe(0);
    expect(JSON.parse(diskit('dump', '--json', img)).structures[0].name).toBe('sprs header');
    const back = join(dir, 'x.raw');
    diskit('convert', '-O', 'raw', '--force', img, back);
    expect(sha(readFileSync(back))).toBe(sha(readFileSync(src)));
    const vhd = join(dir, 'x.vhd');
    diskit('convert', '-O', 'vhd', '--force', img, vhd);
    const q = join(dir, 'x.q');
    run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, q]);
    expect(sha(readFileSync(q).subarray(0, 64 << 20))).toBe(sha(readFileSync(src)));
    const bad = spawnSync('node', [cli, 'convert', '-O', 'sparseimage', '-o', 'band-size=77', '--force', src, join(dir, 'bad.sparseimage')]);
    expect(bad.status).toBe(2);
  });

  it('raw → sparsebundle → dmg: 7-Zip reads the DMG back equal to the source; a deleted band reads as zeros', () => {
    const bundle = join(dir, 'x.sparsebundle');
    diskit('convert', '-O', 'sparsebundle', '-o', 'band-size=1m', '--force', src, bundle);
    expect(readdirSync(join(bundle, 'bands')).sort()).toEqual(['0', '1e', '1f', '3f']);
    const info = JSON.parse(diskit('info', '--json', bundle));
    expect(info).toMatchObject({ format: 'sparsebundle', virtualSize: 64 << 20, bandSize: 1 << 20, bandFiles: 4 });
    expect(spawnSync('node', [cli, 'check', bundle]).status).toBe(0);
    const dmg = join(dir, 'x.dmg');
    diskit('convert', '-O', 'dmg', '--force', bundle, dmg);
    const z = mkdtempSync(join(dir, '7z-'));
    run('7z', ['x', '-tdmg', `-o${z}`, dmg]);
    const files = readdirSync(z);
    expect(files).toHaveLength(1);
    expect(sha(readFileSync(join(z, files[0]!)))).toBe(sha(readFileSync(src)));
    // --force over an existing bundle replaces it whole; without it, exit 2.
    expect(spawnSync('node', [cli, 'convert', '-O', 'sparsebundle', src, bundle]).status).toBe(2);
    diskit('convert', '-O', 'sparsebundle', '-o', 'band-size=1m', '--force', src, bundle);

    unlinkSync(join(bundle, 'bands/1e'));
    const back = join(dir, 'y.raw');
    diskit('convert', '-O', 'raw', '--force', bundle, back);
    const expected = readFileSync(src);
    expected.fill(0, 30 << 20, 31 << 20);
    expect(sha(readFileSync(back))).toBe(sha(expected));
    const map = JSON.parse(diskit('map', '--json', bundle));
    const at30 = map.find((e: { start: number; length: number }) => e.start <= 30 << 20 && e.start + e.length > 30 << 20);
    expect(at30).toMatchObject({ start: 1 << 20, length: 30 << 20, present: false });
  });

  it('ls and extract work through a bundle holding an ISO; the listing matches xorriso’s', () => {
    const tree = mkdtempSync(join(dir, 'tree-'));
    const blob = randomBytes(200_000);
    writeFileSync(join(tree, 'hello.txt'), 'hello from a bundle\n');
    writeFileSync(join(tree, 'blob.bin'), blob);
    const iso = join(dir, 'x.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', iso, tree]);
    const bundle = join(dir, 'iso.sparsebundle');
    diskit('convert', '-f', 'raw', '-O', 'sparsebundle', '--force', iso, bundle);
    const ours = diskit('ls', bundle).split('\n').filter(Boolean).sort();
    const theirs = run('xorriso', ['-indev', iso, '-find', '/', '-type', 'f'], {}).split('\n').filter((l) => l.startsWith("'/")).map((l) => l.slice(2, -1)).sort();
    expect(ours).toEqual(theirs);
    const out = mkdtempSync(join(dir, 'out-'));
    diskit('extract', bundle, '/blob.bin', out);
    expect(sha(readFileSync(join(out, 'blob.bin')))).toBe(sha(blob));
  });

  it('a damaged sparse image or bundle exits 1 with one line naming the structure and offset', () => {
    const img = join(dir, 'cut.sparseimage');
    diskit('convert', '-O', 'sparseimage', '--force', src, img);
    truncateSync(img, 4096 + (1 << 20) + 10);
    const r = spawnSync('node', [cli, 'info', img], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/sparseimage band \d+ at offset \d+/);
    const bundle = join(dir, 'long.sparsebundle');
    diskit('convert', '-O', 'sparsebundle', '-o', 'band-size=1m', '--force', src, bundle);
    writeFileSync(join(bundle, 'bands/1e'), Buffer.alloc((1 << 20) + 1, 1));
    const c = spawnSync('node', [cli, 'check', bundle], { encoding: 'utf8' });
    expect(c.status).toBe(1);
    expect(c.stdout).toMatch(/error: sparse bundle band file bands\/1e at offset 31457280: expected at most 1048576 bytes/);
    const x = spawnSync('node', [cli, 'convert', '-O', 'raw', bundle, join(dir, 'never.raw')], { encoding: 'utf8' });
    expect(x.status).toBe(1);
    expect(existsSync(join(dir, 'never.raw'))).toBe(false);
    // Band 0 is read when the bundle opens (is it encrypted?): a broken one stops every command.
    writeFileSync(join(bundle, 'bands/0'), Buffer.alloc((1 << 20) + 1, 1));
    const i = spawnSync('node', [cli, 'info', bundle], { encoding: 'utf8' });
    expect(i.status).toBe(1);
    expect(i.stderr.trim()).toMatch(/^diskit: CorruptImageError: sparse bundle band file bands\/0 at offset 0/);
  });

  it('a directory that is no image is a usage error', () => {
    const r = spawnSync('node', [cli, 'info', dir], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is a directory/);
  });
});
