/** 7-Zip as the judge of HFS+ listings and extractions, and diskit driven the same ways. */
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dataRuns, walk, type Volume } from '@diskit/core';

export const cli = resolve(__dirname, '../../../cli/bin/diskit.js');
export const diskit = (...args: string[]) => execFileSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });

export interface Item {
  path: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  /** ls-style permission string, when the tool says. */
  mode?: string;
  /** Modification time, 'YYYY-MM-DD HH:MM:SS' UTC, when the tool says. */
  mtime?: string;
}

/** The metadata folders macOS hides (and diskit too); 7-Zip lists them under these names. */
const HIDDEN = new Set(['[HFS+ Private Data]', '.HFS+ Private Directory Data']);

/**
 * `7z l -slt`'s items of the HFS+ volume inside `image`: 7-Zip puts the volume name in front of
 * every path, which is dropped. Symlinks are items with mode l… and the target's length as size.
 */
export function sevenZipList(image: string, type?: string): Item[] {
  const r = spawnSync('7z', ['l', '-slt', ...(type ? [`-t${type}`] : []), image], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, TZ: 'UTC' } });
  const out = r.stdout.slice(r.stdout.indexOf('\n----------\n'));
  const items: Item[] = [];
  for (const block of out.split('\n\n')) {
    const get = (k: string) => new RegExp(`^${k} = (.*)$`, 'm').exec(block)?.[1];
    const path = get('Path');
    const folder = get('Folder');
    if (path === undefined || folder === undefined) continue;
    const parts = path.split('/');
    if (parts.length < 2) continue; // the volume itself
    if (HIDDEN.has(parts[1]!)) continue;
    const mode = get('Mode') || undefined;
    const type = folder === '+' ? 'directory' : mode?.startsWith('l') ? 'symlink' : 'file';
    items.push({ path: '/' + parts.slice(1).join('/'), type, size: type === 'directory' ? 0 : Number(get('Size')), mode, mtime: get('Modified') || undefined });
  }
  return items.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** `diskit ls -R --json` of an image, in the same shape (without modes and times). */
export function diskitList(image: string, ...args: string[]): Item[] {
  return diskitListTimes(image, ...args).map(({ path, type, size }) => ({ path, type, size }));
}

/** `diskit ls -R --json` with each entry's mtime as 7-Zip prints it. */
export function diskitListTimes(image: string, ...args: string[]): Item[] {
  const entries = JSON.parse(diskit('ls', '-R', '--json', ...args, image)) as { path: string; type: Item['type']; size: number; mtime?: string }[];
  return entries
    .map((e) => ({ path: e.path, type: e.type, size: e.type === 'directory' ? 0 : e.size, mtime: e.mtime?.replace('T', ' ').slice(0, 19) }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * sha256 of every file 7-Zip extracts, by path inside the volume. Symlinks as "-> target", the
 * target being the link's data as `7z x -so` prints it (7-Zip's own extraction rewrites absolute
 * targets and writes links to folders as empty files).
 */
export function sevenZipHashes(image: string, type?: string): Map<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'diskit-7zx-'));
  const t = type ? [`-t${type}`] : [];
  try {
    spawnSync('7z', ['x', '-y', `-o${dir}`, ...t, image], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const [volume] = readdirSync(dir);
    const out = hashTree(join(dir, volume!));
    for (const item of sevenZipList(image, type)) {
      if (item.type !== 'symlink') continue;
      const target = spawnSync('7z', ['x', '-so', ...t, image, volume + item.path], { encoding: 'utf8' }).stdout;
      out.set(item.path, `-> ${target}`);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** sha256 of every file under a host directory (symlinks as "-> target"). */
export function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string, rel: string) => {
    for (const n of readdirSync(d)) {
      if (rel === '' && HIDDEN.has(n)) continue;
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(`${rel}/${n}`, `-> ${readlinkSync(p)}`);
      else if (st.isDirectory()) visit(p, `${rel}/${n}`);
      else out.set(`${rel}/${n}`, sha(readFileSync(p)));
    }
  };
  visit(root, '');
  return out;
}

/** sha256 of every file read through the Volume API (symlinks as "-> target"). */
export async function volumeHashes(vol: Volume): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of walk(vol)) {
    if (e.type === 'symlink') out.set(e.path, `-> ${e.target}`);
    if (e.type !== 'file') continue;
    const dev = await vol.openFile(e.path);
    const h = createHash('sha256');
    let pos = 0;
    for await (const run of dataRuns(dev, { chunkSize: 1 << 20 })) {
      if (run.offset > pos) h.update(new Uint8Array(run.offset - pos));
      h.update(run.data);
      pos = run.offset + run.data.length;
    }
    if (pos < dev.size) h.update(new Uint8Array(dev.size - pos));
    out.set(e.path, h.digest('hex'));
  }
  return out;
}
