/** Test helpers: 7-Zip's view of an APFS volume, diskit's, and the bytes of extracted trees. */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const cli = resolve(__dirname, '../../../cli/bin/diskit.js');
export const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `diskit-apfs-${tag}-`));
}

export interface ListEntry {
  path: string;
  type: string;
  /** Files only. */
  size?: number;
  /** Permission bits as `ls -l` shows them (rwxr-xr-x). */
  perms?: string;
  /** Modification time, ISO 8601 to the millisecond (UTC). */
  mtime?: string;
}

const PERM = 'rwxrwxrwx';
export function permString(mode: number): string {
  return Array.from(PERM, (c, i) => (mode & (1 << (8 - i)) ? c : '-')).join('');
}

/**
 * The entries of the (innermost) APFS volume as `7z l -slt` lists them: the blocks after the
 * `----------` line, one per entry, typed by the first character of Mode.
 */
export function sevenZipList(image: string): ListEntry[] {
  const out = execFileSync('7z', ['l', '-slt', image], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, TZ: 'UTC' } });
  const body = out.slice(out.indexOf('\n----------\n') + 12);
  const res: ListEntry[] = [];
  for (const block of body.split(/\n\n+/)) {
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const m = /^([^=]+?) = (.*)$/.exec(line);
      if (m) f[m[1]!] = m[2]!;
    }
    if (f.Path === undefined) continue;
    const mode = f.Mode ?? '';
    const type = f.Folder === '+' || mode.startsWith('d') ? 'directory' : mode.startsWith('l') ? 'symlink' : 'file';
    // 7-Zip prints times in UTC when TZ=UTC (see run7z), to the nanosecond: keep the milliseconds.
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,3}))?/.exec(f.Modified ?? '');
    const mtime = m ? `${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(3, '0')}Z` : undefined;
    res.push({ path: '/' + f.Path, type, size: type === 'file' ? Number(f.Size ?? 0) : undefined, perms: mode ? mode.slice(1, 10) : undefined, mtime });
  }
  return res.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** `diskit ls -R --json` in the same shape. */
export function diskitList(image: string, ...extra: string[]): ListEntry[] {
  const r = diskit('ls', '-R', '--json', image, ...extra);
  if (r.status !== 0) throw new Error(`diskit ls failed (${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { path: string; type: string; size: number; mode?: number; mtime?: string }[])
    .map((e) => ({ path: e.path, type: e.type, size: e.type === 'file' ? e.size : undefined, perms: e.mode !== undefined ? permString(e.mode) : undefined, mtime: e.mtime }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** sha256 of every regular file under `root`, by path from the root. */
export function treeHashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, `${rel}/${name}`);
      else if (st.isFile()) out.set(`${rel}/${name}`, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(root, '');
  return out;
}
