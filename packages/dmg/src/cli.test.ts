/** The diskit CLI (built: `pnpm build` first) on DMG: convert round trip, info --json, check. */
import { beforeAll, afterAll, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeWithTools, run } from '../../../test/tools.js';
import { SHARED, describeShared } from './test/helpers.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8' });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dmgcli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWithTools(['qemu-img', '7z', 'xorriso'], 'diskit CLI on DMG', () => {
  it('convert -O dmg then -O raw round trips (zlib, bzip2 and raw), qemu-img agrees, check is clean, bad options exit 2', () => {
    const src = join(dir, 'src.raw');
    writeFileSync(src, Buffer.alloc(0));
    const fd = openSync(src, 'w');
    writeSync(fd, randomBytes(400_000), 0, 400_000, 1000);
    writeSync(fd, Buffer.alloc(300_000, 0x55), 0, 300_000, 3 << 20);
    writeSync(fd, randomBytes(512), 0, 512, (5 << 20) + 1024);
    closeSync(fd);
    for (const o of ['compression=zlib,level=6', 'compression=bzip2', 'compression=raw']) {
      const dmg = join(dir, `x-${o.replace(/\W/g, '')}.dmg`);
      const back = join(dir, `x-${o.replace(/\W/g, '')}.raw`);
      diskit('convert', '-O', 'dmg', '-o', o, '--force', src, dmg);
      diskit('convert', '-O', 'raw', '--force', dmg, back);
      expect(Buffer.compare(readFileSync(back), readFileSync(src))).toBe(0);
      if (!o.includes('bzip2')) {
        // (qemu-img reads bzip2 chunks only through a module Debian does not build.)
        const q = join(dir, 'q.raw');
        run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', dmg, q]);
        expect(Buffer.compare(readFileSync(q), readFileSync(src))).toBe(0);
      }
      const info = JSON.parse(diskit('info', '--json', dmg));
      expect(info.format).toBe('dmg');
      expect(info.variant).toBe(o.includes('raw') ? 'UDRO' : o.includes('bzip2') ? 'UDBZ' : 'UDZO');
      expect(spawnSync('node', [cli, 'check', dmg]).status).toBe(0);
    }
    const bad = spawnSync('node', [cli, 'convert', '-O', 'dmg', '-o', 'compression=lzma', '--force', src, join(dir, 'bad.dmg')]);
    expect(bad.status).toBe(2);
  });

  it('VHD (dynamic) and ISO sources convert to DMGs that qemu-img and 7z read back equal to the source disk', () => {
    const src = join(dir, 'v.raw');
    const fd = openSync(src, 'w');
    writeSync(fd, randomBytes(700_000), 0, 700_000, 3 << 20);
    writeSync(fd, randomBytes(512), 0, 512, (6 << 20) - 512);
    closeSync(fd);
    const vhd = join(dir, 'v.vhd');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', src, vhd]);
    const disk = join(dir, 'v.disk');
    run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, disk]); // the VHD's virtual disk (CHS-rounded size)
    const dmg = join(dir, 'v.dmg');
    diskit('convert', '-O', 'dmg', '--force', vhd, dmg);
    const q = join(dir, 'v.q');
    run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', dmg, q]);
    expect(Buffer.compare(readFileSync(q), readFileSync(disk))).toBe(0);
    const z = mkdtempSync(join(dir, '7zv-'));
    run('7z', ['x', '-tdmg', `-o${z}`, dmg]);
    expect(Buffer.compare(readFileSync(join(z, '0.hfs')), readFileSync(disk))).toBe(0);

    const isoDir = mkdtempSync(join(dir, 'isosrc-'));
    writeFileSync(join(isoDir, 'hello.txt'), 'hello from a dmg\n'.repeat(1000));
    writeFileSync(join(isoDir, 'blob.bin'), randomBytes(300_000));
    const iso = join(dir, 'x.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, isoDir]);
    const idmg = join(dir, 'x.dmg');
    diskit('convert', '-f', 'raw', '-O', 'dmg', '--force', iso, idmg);
    const iq = join(dir, 'x.q');
    run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', idmg, iq]);
    expect(Buffer.compare(readFileSync(iq), readFileSync(iso))).toBe(0);
  });

  describeShared('shared images', () => {
    it('info --json lists the blkx partitions with compression kinds and chunk counts', () => {
      const info = JSON.parse(diskit('info', '--json', join(SHARED, 'compression-lzfse.dmg')));
      expect(info.format).toBe('dmg');
      expect(info.variant).toBe('ULFO');
      expect(info.virtualSize).toBe(5 << 20);
      const names = info.blkx.map((b: { name: string }) => b.name);
      expect(names[0]).toMatch(/MBR/);
      expect(info.blkx.some((b: { compression: string; chunks: Record<string, number> }) => b.compression === 'lzfse' && b.chunks.lzfse > 0)).toBe(true);
      const out = join(dir, 'lzfse.raw');
      diskit('convert', '-O', 'raw', '--force', join(SHARED, 'compression-lzfse.dmg'), out);
      const z = mkdtempSync(join(dir, '7z-'));
      run('7z', ['x', '-tdmg', `-o${z}`, join(SHARED, 'compression-zlib.dmg')]);
      expect(readFileSync(out).subarray(0, 512)).toEqual(readFileSync(join(z, '0.MBR')));
    });
  });
});
