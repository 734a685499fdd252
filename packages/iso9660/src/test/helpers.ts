/** Fixtures and tool-output parsers shared by the iso9660 tests. */
import { mkdirSync, writeFileSync, symlinkSync, chmodSync, readdirSync, lstatSync, readFileSync, readlinkSync, mkdtempSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { expect } from 'vitest';
import { walk, type FileEntry } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { IsoVolume, type NameMode } from '../reader/index.js';
import { run } from '../../../../test/tools.js';

export function tempDir(tag = 'iso'): string {
  return mkdtempSync(join(tmpdir(), `diskit-${tag}-`));
}

export const LONG_NAME = 'this-is-a-rather-long-file-name-that-goes-past-sixty-four-characters-and-beyond-into-joliet-long-territory-and-even-further.txt';

/** A source tree with deep dirs, long and non-ASCII names, symlinks, empty files, odd modes. */
export function makeTree(root: string, opts: { fifo?: boolean } = {}): void {
  mkdirSync(root, { recursive: true });
  let deep = root;
  for (let i = 1; i <= 11; i++) {
    deep = join(deep, `level${i}`);
    mkdirSync(deep);
  }
  writeFileSync(join(deep, 'deep-file.txt'), 'at the bottom\n');
  writeFileSync(join(root, 'empty'), '');
  const rnd = new Uint8Array(300_000);
  let x = 12345;
  for (let i = 0; i < rnd.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    rnd[i] = x >>> 24;
  }
  writeFileSync(join(root, 'random.bin'), rnd);
  writeFileSync(join(root, LONG_NAME), 'long name\n');
  writeFileSync(join(root, 'ünïcødé-日本語-файл.txt'), 'non-ascii\n');
  writeFileSync(join(root, 'UPPER lower MiXeD.tar.gz'), 'mixed\n');
  writeFileSync(join(root, 'emoji 😀 smile.txt'), 'astral\n');
  mkdirSync(join(root, 'dir with spaces'));
  writeFileSync(join(root, 'dir with spaces', 'exec.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'dir with spaces', 'exec.sh'), 0o755);
  writeFileSync(join(root, 'private'), 'secret');
  chmodSync(join(root, 'private'), 0o600);
  symlinkSync('level1/level2', join(root, 'rel-link'));
  symlinkSync('/etc/some where/abs', join(root, 'abs-link'));
  symlinkSync('../../up/./x', join(root, 'dir with spaces', 'dotdot-link'));
  symlinkSync('x'.repeat(200) + '/y', join(root, 'long-link'));
  mkdirSync(join(root, 'emptydir'));
  if (opts.fifo !== false) execFileSync('mkfifo', [join(root, 'a-fifo')]);
  for (let i = 0; i < 40; i++) writeFileSync(join(root, 'dir with spaces', `f${String(i).padStart(3, '0')}.dat`), `file ${i}\n`.repeat(i * 20));
  // fixed times make listings comparable
  const t = new Date('2024-03-04T05:06:07Z');
  for (const p of listTree(root)) if (!lstatSync(join(root, p)).isSymbolicLink()) utimesSync(join(root, p), t, t);
  utimesSync(root, t, t);
}

/** Relative paths under `root` (no leading slash), sorted. */
export function listTree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${n}` : n;
    out.push(p);
    const st = lstatSync(join(root, p));
    if (st.isDirectory()) out.push(...listTree(root, p));
  }
  return out;
}

export interface ToolEntry {
  path: string;
  type: string;
  perms: string;
  size: number;
  target?: string;
}

/** Parse `xorriso -indev X -find / -exec lsdl`. */
export function xorrisoList(iso: string, extra: string[] = []): ToolEntry[] {
  const out = run('xorriso', ['-abort_on', 'FATAL', ...extra, '-indev', iso, '-find', '/', '-exec', 'lsdl']);
  const res: ToolEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\S)(\S{9})\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+'((?:[^']|'\\'')*)'(?: -> '((?:[^']|'\\'')*)')?$/.exec(line);
    if (!m) continue;
    const unq = (s: string) => s.replace(/'\\''/g, "'");
    const path = unq(m[4]!);
    if (path === '/') continue;
    res.push({ path, type: m[1]!, perms: m[2]!, size: Number(m[3]), target: m[5] !== undefined ? unq(m[5]) : undefined });
  }
  return res.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export async function mountIso(iso: string, names?: NameMode): Promise<{ vol: IsoVolume; dev: FileDevice }> {
  const dev = await FileDevice.open(iso);
  const vol = await IsoVolume.mount(dev, { names });
  return { vol, dev };
}

export async function ourList(iso: string, names?: NameMode): Promise<FileEntry[]> {
  const { vol, dev } = await mountIso(iso, names);
  try {
    const out: FileEntry[] = [];
    for await (const e of walk(vol)) out.push(e);
    return out.sort((a, b) => (a.path < b.path ? -1 : 1));
  } finally {
    await dev.close();
  }
}

export function typeChar(e: { type: string; mode?: number }): string {
  if (e.type === 'other' && e.mode !== undefined) {
    const f = e.mode & 0o170000;
    return f === 0o010000 ? 'p' : f === 0o020000 ? 'c' : f === 0o060000 ? 'b' : f === 0o140000 ? 's' : '?';
  }
  return e.type === 'directory' ? 'd' : e.type === 'symlink' ? 'l' : e.type === 'file' ? '-' : '?';
}

export function permString(mode: number): string {
  const r = 'rwxrwxrwx';
  let s = '';
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? r[i] : '-';
  if (mode & 0o4000) s = s.slice(0, 2) + (s[2] === 'x' ? 's' : 'S') + s.slice(3);
  if (mode & 0o2000) s = s.slice(0, 5) + (s[5] === 'x' ? 's' : 'S') + s.slice(6);
  if (mode & 0o1000) s = s.slice(0, 8) + (s[8] === 'x' ? 't' : 'T');
  return s;
}

/** Compare our listing with xorriso's: same paths, types, sizes (files), permissions, symlink targets. */
export function compareWithXorriso(ours: FileEntry[], theirs: ToolEntry[]): void {
  const a = ours.map((e) => ({ path: e.path, type: typeChar(e), perms: e.mode !== undefined ? permString(e.mode) : undefined, size: e.type === 'file' ? e.size : undefined, target: e.target }));
  const b = theirs.map((e) => ({ path: e.path, type: e.type, perms: e.perms, size: e.type === '-' ? e.size : undefined, target: e.target }));
  expect(a).toEqual(b);
}

/** Hash regular files under a host directory (relative path → contents). */
export function hostFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const p of listTree(root)) {
    const st = lstatSync(join(root, p));
    if (st.isFile()) out.set('/' + p, readFileSync(join(root, p)));
  }
  return out;
}

export function hostLinks(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of listTree(root)) if (lstatSync(join(root, p)).isSymbolicLink()) out.set('/' + p, readlinkSync(join(root, p)));
  return out;
}

export async function readAll(vol: IsoVolume, path: string): Promise<Uint8Array> {
  const f = await vol.openFile(path);
  const b = new Uint8Array(f.size);
  await f.read(b, 0);
  return b;
}

/** Paths as 7z lists them (7z reads Joliet when present), absolute and sorted. */
export function sevenZipPaths(iso: string): string[] {
  const out = run('7z', ['l', '-slt', iso]);
  const paths: string[] = [];
  let first = true;
  for (const line of out.split('\n')) {
    const m = /^Path = (.*)$/.exec(line);
    if (!m) continue;
    if (first) { first = false; continue; }
    paths.push('/' + m[1]!);
  }
  return paths.sort();
}

/** Parse `isoinfo -R -l` (one "Directory listing of /dir/" block per directory). */
export function isoinfoList(iso: string): ToolEntry[] {
  const out = run('isoinfo', ['-R', '-l', '-i', iso]);
  const res: ToolEntry[] = [];
  let dir = '/';
  for (const line of out.split('\n')) {
    const h = /^Directory listing of (.*)$/.exec(line);
    if (h) {
      dir = h[1]!;
      continue;
    }
    const m = /^(\S)(\S{9})\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\w{3}\s+\d+\s+\d{4}\s+\[\s*\d+\s+\d+\]\s\s(.*)$/.exec(line);
    if (!m) continue;
    let name = m[4]!;
    let target: string | undefined;
    const type = m[1] === 'f' ? 'p' : m[1]!;
    if (type === 'l') {
      const i = name.indexOf(' -> ');
      target = name.slice(i + 4);
      name = name.slice(0, i);
    } else name = name.replace(/ $/, '');
    if (name === '.' || name === '..') continue;
    res.push({ path: dir + name, type, perms: m[2]!, size: Number(m[3]), target });
  }
  return res.sort((a, b) => (a.path < b.path ? -1 : 1));
}
