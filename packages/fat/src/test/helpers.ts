/** Fixtures made by real tools at test time (mkfs.fat + mtools), and listings from 7-Zip and from diskit. */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, lstatSync, writeFileSync, rmSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { walk, type BlockDevice, type Volume } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';

export const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `diskit-fat-${tag}-`));

const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TZ: 'UTC' };
export const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { env, input, maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/** Deterministic pseudo-random bytes (xorshift), so a failure repeats. */
export function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * A source tree with what FAT names and chains make hard: long, Unicode, mixed-case and
 * 8.3-colliding names, a deep tree, empty, one-cluster and multi-cluster files.
 */
export function makeTree(root: string, clusterSize = 512): void {
  const f = (p: string, data: Uint8Array | string) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), data);
  };
  f('hello.txt', 'hello, world\n');
  f('empty', '');
  f('README', 'a short name without extension\n');
  f('ONE.BIN', bytes(clusterSize, 1));
  f('MixedCase.Txt', 'mixed\n');
  f('lower.txt', 'lower\n');
  f('UPPER.TXT', 'upper\n');
  f('a rather long file name with spaces and more than 64 characters in it, to need 6 LFN entries.dat', bytes(70_000, 2));
  f('ünïcödé ファイル.txt', 'unicode\n'); // mtools drops characters outside the BMP
  f('.hidden start', 'dot\n');
  f('two.dots.in.name.tar.gz', bytes(3000, 3));
  for (let i = 1; i <= 12; i++) f(`collide_name_${i}.txt`, `collision ${i}\n`);
  f('Deep/a/b/c/d/e/f/g/h/i/j/k/l/m/leaf.txt', 'deep\n');
  f('Deep/a/sibling/file.bin', bytes(5 * clusterSize + 7, 4));
  mkdirSync(join(root, 'Empty Dir'), { recursive: true });
  for (let i = 0; i < 40; i++) f(`many/file ${String(i).padStart(3, '0')}.txt`, `file ${i}\n`.repeat(i));
}

/** mkfs.fat an image of `kib` KiB and copy `src`'s contents in with mcopy -s. */
export function makeFat(img: string, kib: number, bits: 12 | 16 | 32, src: string | undefined, extra: string[] = []): void {
  sh('mkfs.fat', ['-C', '-F', String(bits), ...extra, img, String(kib)]);
  if (src) {
    const names = readdirSync(src).map((n) => join(src, n));
    if (names.length) sh('mcopy', ['-s', '-m', '-i', img, ...names, '::/']);
  }
}

/** Fragment files on purpose: copy a, b, c, delete b, then copy a file bigger than the hole. */
export function fragment(img: string, dir: string, clusterSize: number): { name: string; data: Uint8Array } {
  const put = (name: string, data: Uint8Array) => {
    writeFileSync(join(dir, name), data);
    sh('mcopy', ['-i', img, join(dir, name), `::/${name}`]);
  };
  put('frag_a.bin', bytes(3 * clusterSize, 10));
  put('frag_b.bin', bytes(2 * clusterSize, 11));
  put('frag_c.bin', bytes(3 * clusterSize, 12));
  sh('mdel', ['-i', img, '::/frag_b.bin']);
  rmSync(join(dir, 'frag_b.bin'));
  forgetNextFree(img);
  const big = bytes(9 * clusterSize + 100, 13);
  put('fragmented.bin', big);
  return { name: 'fragmented.bin', data: big };
}

/** FAT32: set FSInfo's next-free hint to "unknown" so mtools allocates from the start (into the hole). */
function forgetNextFree(img: string): void {
  const fd = openSync(img, 'r+');
  try {
    const b = Buffer.alloc(512);
    readSync(fd, b, 0, 512, 0);
    if (b.readUInt16LE(22) !== 0) return; // FAT12/16: mtools already searches from the start
    const next = Buffer.alloc(4);
    next.writeUInt32LE(0xffffffff);
    writeSync(fd, next, 0, 4, b.readUInt16LE(48) * b.readUInt16LE(11) + 492);
  } finally {
    closeSync(fd);
  }
}

export interface Listed {
  path: string;
  type: 'file' | 'directory';
  size: number;
}

/** The source tree as a listing (paths relative to the root, with a leading /). */
export function hostList(root: string, prefix = ''): Listed[] {
  const out: Listed[] = [];
  for (const name of readdirSync(join(root, prefix))) {
    const rel = `${prefix}/${name}`;
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      out.push({ path: rel, type: 'directory', size: 0 });
      out.push(...hostList(root, rel));
    } else out.push({ path: rel, type: 'file', size: st.size });
  }
  return sorted(out);
}

export const sorted = (l: Listed[]) => l.slice().sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

/** `7z l -slt`'s entries: paths, folder flag, sizes. */
export function sevenZipList(img: string, type?: string): Listed[] {
  const out = sh('7z', ['l', '-slt', ...(type ? [`-t${type}`] : []), img]);
  const body = out.split('\n----------\n')[1] ?? '';
  const list: Listed[] = [];
  for (const block of body.split('\n\n')) {
    const m = new Map<string, string>();
    for (const line of block.split('\n')) {
      const i = line.indexOf(' = ');
      if (i > 0) m.set(line.slice(0, i), line.slice(i + 3));
    }
    if (!m.has('Path')) continue;
    const folder = m.get('Folder') === '+';
    list.push({ path: `/${m.get('Path')}`, type: folder ? 'directory' : 'file', size: folder ? 0 : Number(m.get('Size')) });
  }
  return sorted(list);
}

/** diskit's listing of a volume. */
export async function volumeList(vol: Volume): Promise<Listed[]> {
  const out: Listed[] = [];
  for await (const e of walk(vol)) out.push({ path: e.path, type: e.type as Listed['type'], size: e.type === 'directory' ? 0 : e.size });
  return sorted(out);
}

export async function readAll(dev: BlockDevice): Promise<Uint8Array> {
  const b = new Uint8Array(dev.size);
  await dev.read(b, 0);
  return b;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** sha256 of every file of the host tree and of the volume, keyed by path. */
export function hostHashes(root: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of hostList(root)) if (e.type === 'file') m.set(e.path, sha256(readFileSync(join(root, e.path))));
  return m;
}

export async function volumeHashes(vol: Volume): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for await (const e of walk(vol)) {
    if (e.type !== 'file') continue;
    const dev = await vol.openFile(e.path);
    m.set(e.path, sha256(await readAll(dev)));
    await dev.close();
  }
  return m;
}

export const openDevice = (p: string) => FileDevice.open(p);
