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

describeWithTools(['qemu-img', '7z'], 'diskit CLI on DMG', () => {
  it('convert -O dmg then -O raw round trips (zlib and raw), qemu-img agrees, check is clean, bad options exit 2', () => {
    const src = join(dir, 'src.raw');
    writeFileSync(src, Buffer.alloc(0));
    const fd = openSync(src, 'w');
    writeSync(fd, randomBytes(400_000), 0, 400_000, 1000);
    writeSync(fd, Buffer.alloc(300_000, 0x55), 0, 300_000, 3 << 20);
    writeSync(fd, randomBytes(512), 0, 512, (5 << 20) + 1024);
    closeSync(fd);
    for (const o of ['compression=zlib,level=6', 'compression=raw']) {
      const dmg = join(dir, `x-${o.replace(/\W/g, '')}.dmg`);
      const back = join(dir, `x-${o.replace(/\W/g, '')}.raw`);
      diskit('convert', '-O', 'dmg', '-o', o, '--force', src, dmg);
      diskit('convert', '-O', 'raw', '--force', dmg, back);
      expect(Buffer.compare(readFileSync(back), readFileSync(src))).toBe(0);
      const q = join(dir, 'q.raw');
      run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', dmg, q]);
      expect(Buffer.compare(readFileSync(q), readFileSync(src))).toBe(0);
      const info = JSON.parse(diskit('info', '--json', dmg));
      expect(info.format).toBe('dmg');
      expect(info.variant).toBe(o.startsWith('compression=raw') ? 'UDRO' : 'UDZO');
      expect(spawnSync('node', [cli, 'check', dmg]).status).toBe(0);
    }
    const bad = spawnSync('node', [cli, 'convert', '-O', 'dmg', '-o', 'compression=bzip2', '--force', src, join(dir, 'bad.dmg')]);
    expect(bad.status).toBe(2);
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
