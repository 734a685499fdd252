import { lstat, mkdir, rm, symlink, utimes, lutimes, chmod, link, unlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { UsageError, CorruptImageError, DiskitError, pumpDataRuns, normalizePath, readDirectory, walk, walkTree, type FileEntry, type Volume, type WalkOptions } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { defaultRegistry } from '../registry.js';
import { backingOption, openImage, openOptionSpec, openVolume } from '../open.js';
import { parse } from '../args.js';
import { modeString, toJson } from '../format.js';

const volumeOptions = {
  ...openOptionSpec,
  partition: { type: 'string' },
  names: { type: 'string' },
  volume: { type: 'string' },
  snapshot: { type: 'string' },
  // Which filesystem when a disc has several (UDF and ISO9660 on a bridge disc).
  fs: { type: 'string' },
  // Read past a checksum mismatch (a DMG blkx read whole is checked, even by ls).
  'no-verify': { type: 'boolean' },
} as const;

/** Mount options from the command line: --names (ISO9660), --volume and --snapshot (APFS). */
function mountOptions(values: { names?: string; volume?: string; snapshot?: string }): Record<string, string> | undefined {
  const m: Record<string, string> = {};
  if (values.names) m.names = values.names;
  if (values.volume !== undefined) m.volume = values.volume;
  if (values.snapshot !== undefined) m.snapshot = values.snapshot;
  return Object.keys(m).length ? m : undefined;
}

async function withVolume<T>(path: string, values: { format?: string; partition?: string; names?: string; fs?: string; volume?: string; snapshot?: string; options?: string[]; 'no-verify'?: boolean; 'password-file'?: string }, fn: (v: Volume) => Promise<T>): Promise<T> {
  if (values.names && !['iso', 'joliet', 'rockridge', 'win32', 'dos'].includes(values.names)) throw new UsageError(`--names must be iso, joliet, rockridge (ISO9660), win32 or dos (NTFS)`);
  const reg = defaultRegistry();
  const o = await openImage(reg, path, { format: values.format, backing: backingOption(values.options), verify: values['no-verify'] !== true, passwordFile: values['password-file'] });
  try {
    let partition: number | undefined;
    if (values.partition !== undefined) {
      partition = Number(values.partition);
      if (!Number.isInteger(partition) || partition < 1) throw new UsageError(`--partition wants a number ≥ 1, got '${values.partition}'`);
    }
    const vol = await openVolume(reg, o.image, { partition, fs: values.fs, mount: mountOptions(values) });
    return await fn(vol);
  } finally {
    await o.close();
  }
}

/**
 * The walker's reporting for every command: each damaged directory is named on stderr (path,
 * structure, offset) as it is met, and `skipped` turns into exit code 1.
 */
export function skipReporter(): WalkOptions & { readonly skipped: number } {
  let skipped = 0;
  return {
    onError(p) {
      skipped++;
      process.stderr.write(`diskit: skipped ${p.path}: ${p.error.name}: ${p.error.message}\n`);
    },
    get skipped() {
      return skipped;
    },
  };
}

/** `ls --json`'s fields (owner, links and inode where the filesystem keeps them); with `-l` also the other times and flags. */
function jsonEntry(e: FileEntry, long = false) {
  const base = { path: e.path, type: e.type, size: e.size, mode: e.mode, mtime: e.mtime?.toISOString(), target: e.target, uid: e.uid, gid: e.gid, nlink: e.nlink, inode: e.inode };
  if (!long) return base;
  return { ...base, atime: e.atime?.toISOString(), ctime: e.ctime?.toISOString(), birthtime: e.birthtime?.toISOString(), attributes: e.attributes };
}

function longLine(e: FileEntry, name: string): string {
  const mtime = e.mtime ? e.mtime.toISOString().replace('T', ' ').slice(0, 19) : '-'.padEnd(19);
  const owner = e.nlink !== undefined || e.uid !== undefined ? `${String(e.nlink ?? '-').padStart(3)} ${String(e.uid ?? '-').padStart(5)} ${String(e.gid ?? '-').padStart(5)} ` : '';
  return `${modeString(e.type, e.mode)} ${owner}${String(e.size).padStart(12)} ${mtime} ${name}${e.target !== undefined ? ` -> ${e.target}` : ''}`;
}

export async function ls(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...volumeOptions, recursive: { type: 'boolean', short: 'R' }, long: { type: 'boolean', short: 'l' }, streams: { type: 'boolean' } });
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('usage: diskit ls <img> [path] [-R] [-l] [--streams] [--json]');
  const [img, p = '/'] = positionals as [string, string?];
  return withVolume(img, values, async (vol) => {
    const report = skipReporter();
    const start = await vol.stat(normalizePath(p));
    const entries: AsyncIterable<FileEntry> | FileEntry[] =
      start.type !== 'directory' ? [start] : values.recursive ? walk(vol, start.path, report) : await readDirectory(vol, start.path, report);
    // Streamed: a listing of 100,000 entries is printed as it is read, never held whole.
    const out = new LineWriter();
    let first = true;
    if (values.json) await out.write('[');
    for await (const e of entries) {
      if (values.json) await out.write(`${first ? '\n' : ',\n'}${JSON.stringify(jsonEntry(e, values.long === true))}`);
      else {
        const name = values.recursive ? e.path : e.name;
        await out.write((values.long ? longLine(e, name) : name) + '\n');
      }
      first = false;
      // --streams: a file's named streams (NTFS ADS, resource forks, xattrs) follow it as `path:name`.
      if (values.streams && e.type === 'file' && vol.streams) {
        for (const st of await vol.streams(e.path)) {
          const path = `${e.path}:${st.name}`;
          if (values.json) await out.write(`,\n${JSON.stringify({ path, type: 'stream', size: st.size, kind: st.kind })}`);
          else await out.write(`${values.long ? `${'stream'.padEnd(10)} ${String(st.size).padStart(12)} ${''.padEnd(19)} ` : ''}${values.recursive ? path : `${e.name}:${st.name}`}\n`);
        }
      }
    }
    if (values.json) await out.write(first ? ']\n' : '\n]\n');
    await out.flush();
    return report.skipped > 0 ? 1 : 0;
  });
}

/** Buffered stdout that waits for the pipe to drain: bounded memory however long the output. */
class LineWriter {
  private buf = '';
  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 64 << 10) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.buf) return;
    const chunk = this.buf;
    this.buf = '';
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

export async function tree(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, volumeOptions);
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('usage: diskit tree <img> [path]');
  const [img, p = '/'] = positionals as [string, string?];
  return withVolume(img, values, async (vol) => {
    const report = skipReporter();
    const root = await vol.stat(normalizePath(p));
    const out = new LineWriter();
    await out.write(root.path + '\n');
    // lastAt[d]: the entry drawn at depth d was its directory's last (no more '│' below it).
    const lastAt: boolean[] = [];
    if (root.type === 'directory') {
      for await (const { entry: e, depth, last } of walkTree(vol, root.path, report)) {
        lastAt[depth] = last;
        let prefix = '';
        for (let d = 0; d < depth; d++) prefix += lastAt[d] ? '    ' : '│   ';
        await out.write(`${prefix}${last ? '└── ' : '├── '}${e.name}${e.type === 'directory' ? '/' : ''}${e.target !== undefined ? ` -> ${e.target}` : ''}\n`);
      }
    }
    await out.flush();
    return report.skipped > 0 ? 1 : 0;
  });
}

/** A name from an image is safe as one path component: not empty, no separator, NUL, '.' or '..'. */
export function safeComponent(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/**
 * Extract a file or directory tree under `dest`. Every name is checked as a single component,
 * every target path must stay inside `dest`, files are created exclusively and without following
 * symlinks, and symlinks are created as links (never followed by later writes).
 */
export async function extract(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...volumeOptions, force: { type: 'boolean' } });
  if (positionals.length !== 3) throw new UsageError('usage: diskit extract <img> <path> <dest>');
  const [img, src, destArg] = positionals as [string, string, string];
  return withVolume(img, values, async (vol) => {
    const { skipped } = await extractTree(vol, src, destArg, { force: values.force === true });
    return skipped > 0 ? 1 : 0;
  });
}

/**
 * Extract `src` (a file or a directory tree) from a volume under `destArg`. Every name is checked
 * as a single component, every target path must stay inside the destination, files are created
 * exclusively without following symlinks, symlinks are created as links and never followed by
 * later writes (a directory whose name is taken by a symlink is an error, not a way out). Damaged
 * directories are reported and skipped (`skipped` counts them with the unsafe names and special files).
 */
export async function extractTree(vol: Volume, src: string, destArg: string, opts: { force?: boolean } = {}): Promise<{ skipped: number }> {
  const dest = resolve(destArg);
  const stream = await namedStream(vol, src);
  if (stream) {
    await mkdir(dest, { recursive: true });
    const name = `${stream.file.name}:${stream.name}`;
    const ok = await writeFile(vol, { ...stream.file, path: src }, join(dest, safeComponent(name) ? name : 'stream'), opts.force === true, () => vol.openStream!(stream.file.path, stream.name));
    return { skipped: ok ? 0 : 1 };
  }
  const root = await vol.stat(normalizePath(src));
  await mkdir(dest, { recursive: true });
  const inside = (p: string) => p === dest || p.startsWith(dest + sep);
  // Modes and times of directories last: writing their contents would change them.
  const dirAttrs: [string, FileEntry][] = [];
  // Files with several links: the first extracted path of each inode, so the others become hard links.
  const linked = new Map<number, string>();
  let skipped = 0;

  const place = async (e: FileEntry, target: string): Promise<void> => {
    if (!inside(target)) throw new CorruptImageError('file name', 0, 'a path inside the destination', e.path);
    if (e.type === 'directory') {
      const st = await lstat(target).catch(() => null);
      if (st && !st.isDirectory()) throw new CorruptImageError('directory', 0, 'a directory', `${target} exists and is not a directory`);
      if (!st) await mkdir(target);
      dirAttrs.push([target, e]);
    } else if (e.type === 'symlink') {
      await symlink(e.target ?? '', target);
      if (e.mtime) await lutimes(target, e.mtime, e.mtime).catch(() => {});
    } else if (e.type === 'file') {
      const first = e.inode !== undefined && (e.nlink ?? 1) > 1 ? linked.get(e.inode) : undefined;
      if (first !== undefined) {
        if (opts.force === true) await rmFile(target);
        await link(first, target);
      } else if (!(await writeFile(vol, e, target, opts.force === true))) skipped++;
      else if (e.inode !== undefined && (e.nlink ?? 1) > 1) linked.set(e.inode, target);
    } else {
      process.stderr.write(`diskit: skipping ${specialKind(e.mode)} ${e.path} (not extracted)\n`);
      skipped++;
    }
  };

  if (root.type !== 'directory') {
    await place(root, join(dest, safeComponent(root.name) ? root.name : 'file'));
    return { skipped };
  }
  await place(root, dest);
  const report = skipReporter();
  // Pre-order: dirTargets[d] is where the directory last met at depth d went (its children come
  // next), or null when it was not extracted (an unsafe name): its subtree is not either.
  const dirTargets: (string | null)[] = [];
  for await (const { entry: e, depth } of walkTree(vol, root.path, report)) {
    const parent = depth === 0 ? dest : dirTargets[depth - 1]!;
    let target: string | null = null;
    if (parent === null) {
      // inside a skipped directory
    } else if (!safeComponent(e.name)) {
      process.stderr.write(`diskit: skipping unsafe name ${JSON.stringify(e.name)} in ${e.path.slice(0, e.path.lastIndexOf('/')) || '/'}\n`);
      skipped++;
    } else {
      target = join(parent, e.name);
      await place(e, target);
    }
    if (e.type === 'directory') dirTargets[depth] = target;
  }
  for (const [d, e] of dirAttrs.reverse()) {
    if (e.mode !== undefined) await chmod(d, e.mode & 0o777);
    if (e.mtime) await utimes(d, e.mtime, e.mtime);
  }
  return { skipped: skipped + report.skipped };
}

/** With --force, an existing regular file (never a directory or a symlink's target) makes room for a hard link. */
async function rmFile(target: string): Promise<void> {
  const st = await lstat(target).catch(() => null);
  if (st?.isDirectory()) throw new CorruptImageError('file', 0, 'a regular file target', `${target} is a directory`);
  if (st) await unlink(target);
}

function specialKind(mode?: number): string {
  const t = (mode ?? 0) & 0o170000;
  return t === 0o020000 ? 'character device' : t === 0o060000 ? 'block device' : t === 0o010000 ? 'FIFO' : t === 0o140000 ? 'socket' : 'special file';
}

/**
 * One file's bytes into `target`. A file whose data cannot be read (a damaged extent, a bad
 * compressed block) is named on stderr and removed, and false returned: the rest is still extracted.
 */
/** `file:name` naming a named stream of a file (when no entry has that whole name). */
async function namedStream(vol: Volume, src: string): Promise<{ file: FileEntry; name: string } | undefined> {
  const colon = src.lastIndexOf(':');
  if (!vol.openStream || colon <= src.lastIndexOf('/') || colon === src.length - 1) return undefined;
  if (await vol.stat(normalizePath(src)).catch(() => null)) return undefined;
  const file = await vol.stat(normalizePath(src.slice(0, colon))).catch(() => null);
  return file?.type === 'file' ? { file, name: src.slice(colon + 1) } : undefined;
}

async function writeFile(vol: Volume, e: FileEntry, target: string, force: boolean, open = () => vol.openFile(e.path)): Promise<boolean> {
  if (force) {
    const st = await lstat(target).catch(() => null);
    if (st?.isSymbolicLink()) throw new CorruptImageError('file', 0, 'a regular file target', `${target} is a symlink`);
  }
  const out = await FileDevice.create(target, { exclusive: !force, noFollow: true });
  let ok = false;
  try {
    const dev = await open();
    try {
      await pumpDataRuns(dev, (data, offset) => out.write(data, offset), { ordered: false });
      await out.truncate(dev.size);
    } finally {
      await dev.close();
    }
    if (e.mode !== undefined) await out.handle.chmod(e.mode & 0o777);
    if (e.mtime) await out.handle.utimes(e.mtime, e.mtime);
    ok = true;
  } catch (err) {
    if (!(err instanceof DiskitError) || err instanceof UsageError) throw err;
    process.stderr.write(`diskit: skipped ${e.path}: ${err.name}: ${err.message}\n`);
  } finally {
    await out.close();
    if (!ok) await rm(target, { force: true });
  }
  return ok;
}
