/** Folder images on Node: a directory read as a DirectorySource, and written atomically. */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { DirectoryFile, DirectorySink, DirectorySource } from './directory.js';
import { UsageError } from './errors.js';
import { FileDevice, trackTempOutput } from './node.js';

/** The folder's own paths only: no absolute names, no `..`, no empty parts. */
function inside(root: string, path: string): string {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..')) throw new UsageError(`bad path '${path}' inside ${root}`);
  return join(root, ...parts);
}

const missing = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

/** A directory on disk as a DirectorySource (files opened read-only, on demand). */
export function directorySource(path: string): DirectorySource {
  const root = resolve(path);
  return {
    name: path,
    async list(p) {
      try {
        return (await readdir(p ? inside(root, p) : root)).sort();
      } catch (e) {
        if (missing(e)) return [];
        throw e;
      }
    },
    async open(p) {
      try {
        return await FileDevice.open(inside(root, p));
      } catch (e) {
        if (missing(e)) return undefined;
        throw e;
      }
    },
  };
}

/** Bytes a directory tree occupies on the host's disk, and its files' total length. */
export async function directorySize(path: string): Promise<{ bytes: number; allocated: number }> {
  let bytes = 0;
  let allocated = 0;
  for (const e of await readdir(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) {
      const sub = await directorySize(p);
      bytes += sub.bytes;
      allocated += sub.allocated;
    } else if (e.isFile()) {
      const st = await stat(p);
      bytes += st.size;
      allocated += Math.min(st.blocks * 512, st.size);
    }
  }
  return { bytes, allocated };
}

/**
 * A folder image written under a temporary name beside `target` and renamed on commit, like
 * AtomicOutput: an error never leaves a partial folder under the target's name.
 */
export class DirectoryOutput implements DirectorySink {
  private readonly open = new Set<FileDevice>();
  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private readonly force: boolean,
  ) {}

  static async create(target: string, opts: { force?: boolean } = {}): Promise<DirectoryOutput> {
    const exists = await stat(target).then(() => true, () => false);
    if (exists && !opts.force) throw new UsageError(`${target} exists (use --force to overwrite)`);
    const tempPath = join(dirname(target), `.${basename(target)}.diskit-${process.pid}-${Date.now().toString(36)}.tmp`);
    await mkdir(tempPath);
    trackTempOutput(tempPath, true);
    return new DirectoryOutput(target, tempPath, !!opts.force);
  }

  async create(path: string): Promise<DirectoryFile> {
    const full = inside(this.tempPath, path);
    await mkdir(dirname(full), { recursive: true });
    const file = await FileDevice.create(full, { exclusive: true, noFollow: true });
    this.open.add(file);
    return {
      write: (from, offset) => file.write(from, offset),
      truncate: (size) => file.truncate(size),
      close: async () => {
        this.open.delete(file);
        await file.close();
      },
    };
  }

  /** Rename into place; an existing target (with `force`) is moved aside first, then removed. */
  async commit(): Promise<void> {
    for (const f of this.open) await f.close();
    this.open.clear();
    const exists = await stat(this.target).then(() => true, () => false);
    if (exists && !this.force) throw new UsageError(`${this.target} exists (use --force to overwrite)`);
    const aside = `${this.tempPath}.old`;
    if (exists) await rename(this.target, aside);
    await rename(this.tempPath, this.target);
    trackTempOutput(this.tempPath, false);
    if (exists) await rm(aside, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    for (const f of this.open) await f.close().catch(() => {});
    this.open.clear();
    await rm(this.tempPath, { recursive: true, force: true });
    trackTempOutput(this.tempPath, false);
  }
}
