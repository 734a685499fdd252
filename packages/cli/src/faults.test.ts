/**
 * Faults: inputs stay untouched by every command, outputs appear atomically (SIGINT, SIGKILL,
 * a full disk), and extract never writes outside its destination.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync, lstatSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BlockDevice, FileEntry, Volume } from '@diskit/core';
import { MemoryDevice } from '@diskit/core';
import { extractTree, safeComponent } from './commands/files.js';
import { describeNeeding, hasTool, run } from '../../../test/tools.js';

const cli = resolve(__dirname, '../bin/diskit.js');
const tmp = mkdtempSync(join(tmpdir(), 'diskit-faults-'));
const diskit = (args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });

function fingerprint(path: string): { hash: string; mtimeMs: number; size: number } {
  const st = statSync(path);
  return { hash: createHash('sha256').update(readFileSync(path)).digest('hex'), mtimeMs: st.mtimeMs, size: st.size };
}

/** A file of `mib` MiB of non-zero data (nothing to skip: conversions take a while). */
function dataFile(path: string, mib: number): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(1 << 20, 0x5a);
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0);
    writeSync(fd, block, 0, block.length, i << 20);
  }
  closeSync(fd);
}

describeNeeding(['sgdisk', 'xorriso', 'qemu-img'].filter((t) => !hasTool(t)), 'inputs stay untouched', () => {
  const inputs: string[] = [];
  beforeAll(() => {
    const gpt = join(tmp, 'in-gpt.img');
    execFileSync('truncate', ['-s', '8M', gpt]);
    run('sgdisk', ['-n1:2048:+2M', '-c1:data', gpt]);
    const dir = join(tmp, 'tree');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'sub', 'f.txt'), 'content\n');
    const iso = join(tmp, 'in.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, dir]);
    const vhd = join(tmp, 'in.vhd');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', gpt, vhd]);
    inputs.push(gpt, iso, vhd);
  });

  it('every command leaves every input byte-identical with its mtime unchanged', () => {
    for (const input of inputs) {
      const before = fingerprint(input);
      const out = join(tmp, `out-${Math.random().toString(36).slice(2)}`);
      for (const args of [
        ['info', input], ['info', '--json', input], ['map', input], ['dump', input], ['check', input],
        ['convert', '-O', 'raw', input, out + '.raw'], ['ls', '-R', input], ['tree', input], ['extract', input, '/', out + '.d'],
      ]) {
        diskit(args); // exit codes vary by format; the input must not change either way
        expect(fingerprint(input), `${args[0]} ${input}`).toEqual(before);
      }
    }
  });
});

describe('atomic outputs', () => {
  const big = join(tmp, 'big.img');
  beforeAll(() => dataFile(big, 768));

  const waitForTemp = async (dir: string, target: string) => {
    for (let i = 0; i < 400; i++) {
      const temps = readdirSync(dir).filter((f) => f.startsWith(`.${target}.diskit-`));
      if (temps.length && statSync(join(dir, temps[0]!)).size > 0) return temps[0]!;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('conversion never started writing');
  };

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`a conversion killed with ${signal} halfway leaves no file under the target name`, async () => {
      const dir = mkdtempSync(join(tmp, 'sig-'));
      const target = 'out.raw';
      const child = spawn('node', [cli, 'convert', '-O', 'raw', big, join(dir, target)], { stdio: 'ignore' });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await waitForTemp(dir, target);
      child.kill(signal);
      const code = await exited;
      expect(existsSync(join(dir, target))).toBe(false);
      if (signal === 'SIGINT') {
        expect(code).toBe(130);
        expect(readdirSync(dir)).toEqual([]); // the temporary file is removed too
      }
    });
  }

  describeNeeding(canMountTmpfs() ? [] : ['a tmpfs mount (root)'], 'a full disk', () => {
    const mnt = join(tmp, 'small');
    beforeAll(() => {
      mkdirSync(mnt, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16M', 'tmpfs', mnt]);
    });
    afterAll(() => {
      spawnSync('umount', [mnt]);
    });
    it('gives one clear error and removes the partial output', () => {
      const r = diskit(['convert', '-O', 'raw', big, join(mnt, 'out.raw')]);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/ENOSPC|no space/i);
      expect(readdirSync(mnt)).toEqual([]);
    });
  });
});

function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'diskit-mnt-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', probe]).status === 0;
  if (ok) spawnSync('umount', [probe]);
  return ok;
}

/** An in-memory volume holding whatever names a hostile image could carry. */
function evilVolume(tree: Record<string, FileEntry[]>): Volume {
  return {
    type: 'evil',
    async stat(p) {
      if (p === '/') return { path: '/', name: '', type: 'directory', size: 0 };
      for (const list of Object.values(tree)) for (const e of list) if (e.path === p) return e;
      throw new Error('no such entry ' + p);
    },
    async readdir(p) {
      return tree[p] ?? [];
    },
    async openFile(): Promise<BlockDevice> {
      return new MemoryDevice(new TextEncoder().encode('pwned\n'), { readOnly: true });
    },
    async info() {
      return {};
    },
  };
}

describe('extract never writes outside its destination', () => {
  const f = (path: string, name: string, extra: Partial<FileEntry> = {}): FileEntry => ({ path, name, type: 'file', size: 6, ...extra });

  it('skips names with .., /, NUL or empty', async () => {
    const dest = mkdtempSync(join(tmp, 'x-'));
    const vol = evilVolume({
      '/': [f('/..', '..'), f('/a/../../b', '../../escape'), f('/c', 'c/../../d'), f('/e', 'e\0f'), f('/g', ''), f('/ok', 'ok')],
    });
    const { skipped } = await extractTree(vol, '/', join(dest, 'out'));
    expect(skipped).toBe(5);
    expect(readdirSync(dest)).toEqual(['out']);
    expect(readdirSync(join(dest, 'out'))).toEqual(['ok']);
    for (const n of ['..', 'a/b', '\0', '.', '']) expect(safeComponent(n)).toBe(false);
  });

  it('creates absolute symlinks as links and never writes through them', async () => {
    const dest = mkdtempSync(join(tmp, 'y-'));
    const outside = join(tmp, 'outside-' + Math.random().toString(36).slice(2));
    mkdirSync(outside);
    const vol = evilVolume({
      '/': [
        { path: '/link', name: 'link', type: 'symlink', size: 0, target: outside },
        { path: '/link', name: 'link', type: 'directory', size: 0 }, // then a directory of the same name
        f('/file', 'link'), // then a file of the same name
      ],
      '/link': [f('/link/passwd', 'passwd')],
    });
    await expect(extractTree(vol, '/', dest)).rejects.toThrow();
    expect(readdirSync(outside)).toEqual([]);
    expect(lstatSync(join(dest, 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'link'))).toBe(outside);
  });

  it('does not follow a symlink planted as a file name', async () => {
    const dest = mkdtempSync(join(tmp, 'z-'));
    const outsideFile = join(tmp, 'victim-' + Math.random().toString(36).slice(2));
    writeFileSync(outsideFile, 'original');
    const vol = evilVolume({
      '/': [{ path: '/v', name: 'v', type: 'symlink', size: 0, target: outsideFile }, f('/v2', 'v')],
    });
    await expect(extractTree(vol, '/', dest)).rejects.toThrow();
    expect(readFileSync(outsideFile, 'utf8')).toBe('original');
    await expect(extractTree(vol, '/', dest, { force: true })).rejects.toThrow();
    expect(readFileSync(outsideFile, 'utf8')).toBe('original');
  });
});
