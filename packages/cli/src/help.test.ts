import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { COMMAND_HELP, FORMAT_OPTIONS, nearest } from './help.js';
import { commands } from './commands/index.js';
import { progressLine } from './format.js';
import { defaultRegistry } from './registry.js';
import { isDirectoryDriver } from '@diskit/core';

const cli = resolve(__dirname, '../bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
const tmp = mkdtempSync(join(tmpdir(), 'diskit-help-'));

describe('help', () => {
  it('every command has --help with its usage, options and an example (exit 0)', () => {
    expect(Object.keys(COMMAND_HELP).every((c) => c in commands)).toBe(true);
    for (const name of Object.keys(commands)) {
      const r = diskit(name, '--help');
      expect(r.status, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^usage: diskit ${name}`));
      expect(r.stdout, name).toMatch(/\nexample:\s+diskit /i);
    }
    expect(diskit('ls', '-h').stdout).toMatch(/--recursive/);
    expect(diskit('create', 'iso', '--help').stdout).toMatch(/--volid/);
  });

  it('an unknown command suggests the nearest one (exit 2)', () => {
    const r = diskit('lss', 'x.img');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'lss' \(did you mean 'ls'\?\)/);
    expect(diskit('extact').stderr).toMatch(/did you mean 'extract'/);
    expect(diskit('convrt').stderr).toMatch(/did you mean 'convert'/);
    expect(nearest('frobnicate', Object.keys(commands))).toBeUndefined();
  });

  it('-o help lists the output format\'s options with defaults, and each documented option is accepted', () => {
    const r = diskit('convert', '-O', 'vhdx', '-o', 'help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/block_size=32M +payload block size/);
    expect(diskit('convert', '-O', 'raw', '-o', 'help').stdout).toMatch(/raw takes no -o options/);
    // every format diskit writes has its options documented
    const writable = defaultRegistry().formats.filter((f) => f.create || isDirectoryDriver(f)).map((f) => f.name);
    expect(writable.filter((f) => !(f in FORMAT_OPTIONS))).toEqual([]);
    const src = join(tmp, 'src.img');
    writeFileSync(src, new Uint8Array(4 << 20));
    for (const [format, opts] of Object.entries(FORMAT_OPTIONS)) {
      for (const o of opts) {
        if (!/^[\w.]+$/.test(o.default)) continue; // "the CPU count"
        const out = join(tmp, `o-${format}-${o.key}`);
        const c = diskit('convert', '-O', format, '-o', `${o.key}=${o.default}`, src, out);
        expect(c.status, `${format} ${o.key}=${o.default}: ${c.stderr}`).toBe(0);
        expect(existsSync(out)).toBe(true);
      }
    }
  });

  it('progress shows rate and time left', () => {
    expect(progressLine('raw → vhd', 256 << 20, 1 << 30, 2000)).toMatch(/ 25\.0%  128\.0 MiB\/s  0:06 left$/);
    expect(progressLine('raw → vhd', 1 << 30, 1 << 30, 65_000)).toMatch(/100\.0%  15\.\d MiB\/s  done in 1:05$/);
  });
});
