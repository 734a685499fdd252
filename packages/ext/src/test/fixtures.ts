/** Source trees and images for the ext tests: made at test time by mke2fs -d, parsed tool output. */
import { mkdirSync, writeFileSync, symlinkSync, chmodSync, chownSync, linkSync, readdirSync, lstatSync, readFileSync, readlinkSync, mkdtempSync, utimesSync, openSync, writeSync, readSync, closeSync, ftruncateSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { run } from '../../../../test/tools.js';

export const isRoot = process.getuid?.() === 0;

export function tempDir(tag = 'ext'): string {
  return mkdtempSync(join(tmpdir(), `diskit-${tag}-`));
}

export function pseudoRandom(n: number, seed = 12345): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Write `data` at `offset` of a file of `size` bytes, leaving the rest a hole. */
export function sparseFile(path: string, size: number, pieces: [number, Uint8Array][]): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [off, data] of pieces) writeSync(fd, data, 0, data.length, off);
  } finally {
    closeSync(fd);
  }
}

export const BIG_SPARSE = 5 * 2 ** 30 + 12345;

/**
 * The tree every image holds: small and multi-block files (past the 12 direct and the single
 * indirect pointers of 1 KiB blocks), a sparse file over 4 GiB and one reaching triple-indirect
 * blocks, fast and slow symlinks, hard links, owners beyond 16 bits, odd modes, a FIFO and a
 * character device (root only), non-ASCII names, a deep directory.
 */
export function makeSource(root: string, opts: { big?: boolean } = {}): void {
  mkdirSync(join(root, 'sub/deeper/deepest'), { recursive: true });
  writeFileSync(join(root, 'hello.txt'), 'hello, ext\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'random.bin'), pseudoRandom(300_000));
  writeFileSync(join(root, 'sub/deeper/deepest/leaf.txt'), 'leaf\n'.repeat(1000));
  writeFileSync(join(root, 'ünïcödé-日本語.txt'), 'non-ascii\n');
  writeFileSync(join(root, 'tiny'), 'x'.repeat(50));
  writeFileSync(join(root, 'exec.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'exec.sh'), 0o755);
  writeFileSync(join(root, 'private'), 'secret');
  chmodSync(join(root, 'private'), 0o600);
  linkSync(join(root, 'hello.txt'), join(root, 'sub/hello-hardlink'));
  linkSync(join(root, 'hello.txt'), join(root, 'sub/deeper/hello-again'));
  symlinkSync('hello.txt', join(root, 'fast-link'));
  symlinkSync('sub/deeper/' + 'long-name-'.repeat(12), join(root, 'slow-link'));
  symlinkSync('sub', join(root, 'dir-link'));
  // Holes: one past 70 MiB (triple-indirect territory for 1 KiB ext2/3 blocks), one over 4 GiB.
  // (Both end in data: mke2fs -O inline_data records a trailing hole's size wrongly, as debugfs shows.)
  sparseFile(join(root, 'sparse-70m'), (70 << 20) + 3000, [[4096, pseudoRandom(5000, 7)], [70 << 20, pseudoRandom(3000, 8)]]);
  // 16 pieces between holes: more extents than i_block holds, so the extent tree has depth 1.
  sparseFile(join(root, 'fragments'), 15 * 65536 + 4096, Array.from({ length: 16 }, (_, i) => [i * 65536, pseudoRandom(4096, 100 + i)] as [number, Uint8Array]));
  if (opts.big !== false) sparseFile(join(root, 'sparse-5g'), BIG_SPARSE, [[0, pseudoRandom(10_000, 9)], [BIG_SPARSE - 7000, pseudoRandom(7000, 10)]]);
  if (isRoot) {
    chownSync(join(root, 'hello.txt'), 1234, 5678);
    chownSync(join(root, 'private'), 70000, 80000);
    execFileSync('mkfifo', [join(root, 'a-fifo')]);
    execFileSync('mknod', [join(root, 'null-dev'), 'c', '1', '3']);
  }
  const t = new Date('2024-03-04T05:06:07Z');
  for (const p of listTree(root)) if (!lstatSync(join(root, p)).isSymbolicLink()) utimesSync(join(root, p), t, t);
  utimesSync(join(root, 'random.bin'), t, new Date('2031-01-02T03:04:05Z'));
}

/** Relative paths under `root`, sorted. */
export function listTree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${n}` : n;
    out.push(p);
    if (lstatSync(join(root, p)).isDirectory()) out.push(...listTree(root, p));
  }
  return out;
}

export interface Listed {
  path: string;
  type: string;
  size?: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  nlink: number;
  target?: string;
}

const typeOfMode = (m: number) => ({ 0o040000: 'directory', 0o100000: 'file', 0o120000: 'symlink' })[m & 0o170000] ?? 'other';

/** What lstat says of every path of the source tree (mtime in whole seconds). */
export function sourceListing(root: string): Listed[] {
  return listTree(root).map((p) => {
    const st = lstatSync(join(root, p));
    const type = typeOfMode(st.mode);
    return {
      path: '/' + p, type, size: type === 'file' || type === 'symlink' ? st.size : undefined, mode: st.mode, uid: st.uid, gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000), nlink: st.nlink, target: st.isSymbolicLink() ? readlinkSync(join(root, p)) : undefined,
    };
  });
}

/** `diskit ls -R --json` entries in the same shape. */
export function diskitListing(json: { path: string; type: string; size: number; mode: number; uid: number; gid: number; mtime: string; nlink: number; target?: string }[]): Listed[] {
  return json.map((e) => ({
    path: e.path, type: e.type, size: e.type === 'file' || e.type === 'symlink' ? e.size : undefined, mode: e.mode, uid: e.uid, gid: e.gid,
    mtime: Math.floor(Date.parse(e.mtime) / 1000), nlink: e.nlink, target: e.target,
  })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface SevenZipEntry {
  path: string;
  folder: boolean;
  size?: number;
  mode: string;
  modified: string;
  inode: number;
  links: number;
  target: string;
  uid: number;
  gid: number;
}

/** `7z l -slt` of an ext image, without 7-Zip's [SYS] pseudo-files. */
export function sevenZipList(img: string): SevenZipEntry[] {
  const out = execFileSync('7z', ['l', '-slt', img], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, TZ: 'UTC' } });
  const body = out.slice(out.indexOf('----------'));
  const entries: SevenZipEntry[] = [];
  for (const block of body.split(/\n\n+/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf(' = ');
      if (i > 0) f[line.slice(0, i)] = line.slice(i + 3);
      else if (line.endsWith(' =')) f[line.slice(0, -2)] = '';
    }
    if (f.Path === undefined || f.Path.startsWith('[SYS]')) continue;
    entries.push({
      path: '/' + f.Path, folder: f.Folder === '+', size: f.Size ? Number(f.Size) : undefined, mode: f.Mode ?? '', modified: f.Modified ?? '',
      inode: Number(f.iNode), links: Number(f.Links), target: f['Symbolic Link'] ?? '', uid: Number(f['User ID']), gid: Number(f['Group ID']),
    });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** ls -l style permission string of a mode, as 7-Zip prints it. */
export function modeString(mode: number): string {
  const t = { 0o040000: 'd', 0o100000: '-', 0o120000: 'l', 0o010000: 'p', 0o020000: 'c', 0o060000: 'b', 0o140000: 's' }[mode & 0o170000] ?? '?';
  let s = t;
  for (const shift of [6, 3, 0]) {
    const b = (mode >> shift) & 7;
    s += (b & 4 ? 'r' : '-') + (b & 2 ? 'w' : '-') + (b & 1 ? 'x' : '-');
  }
  return s;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** sha256 of every regular file under root (sparse files over 64 MiB left out: compared piecewise). */
export function fileHashes(root: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of listTree(root)) {
    const st = lstatSync(join(root, p));
    if (st.isFile() && st.size < 64 << 20) m.set(p, sha256(readFileSync(join(root, p))));
  }
  return m;
}

/** mke2fs -d: an image of `src` in a new file. */
export function mkfs(img: string, src: string, args: string[], size = '24M'): void {
  run('mke2fs', ['-q', '-F', ...args, '-d', src, img, size]);
}

/** `debugfs -R 'stat PATH'` parsed into its key fields. */
export function debugfsStat(img: string, path: string): Record<string, string> {
  const out = execFileSync('debugfs', ['-R', `stat "${path}"`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const f: Record<string, string> = {};
  for (const m of out.matchAll(/(\w+):\s+(0x[0-9a-f]+:[0-9a-f]+|\S+)/g)) if (!(m[1]! in f)) f[m[1]!] = m[2]!;
  return f;
}

/** Byte offset of a path's inode in the image, from debugfs imap. */
export function inodeOffset(img: string, path: string, blockSize: number): number {
  const out = execFileSync('debugfs', ['-R', `imap "${path}"`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`debugfs imap: ${out}`);
  return Number(m[1]) * blockSize + Number(m[2]);
}

/** The first physical block of a path's data, from debugfs bmap. */
export function firstBlock(img: string, path: string): number {
  return Number(execFileSync('debugfs', ['-R', `bmap "${path}" 0`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
}

export function debugfsWrite(img: string, ...cmds: string[]): void {
  for (const c of cmds) execFileSync('debugfs', ['-w', '-R', c, img], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** XOR one byte of a file in place. */
export function flipByte(path: string, offset: number, mask = 0x01): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0] ^= mask;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

/** Overwrite bytes of a file in place. */
export function patch(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}
