/** Path lookup, a bounded directory cache and directory-loop detection, shared by the FAT and exFAT volumes. */
import { CorruptImageError, PartialDirectoryError, UsageError, normalizePath, type FileEntry } from '@diskit/core';

const MAX_CACHED_DIRS = 512;
/** …and at most this many entries in all (a directory can hold 65,536; exFAT's many more). */
const MAX_CACHED_ENTRIES = 200_000;
/** Directory reads kept in flight ahead of a walk. */
const PREFETCH = 4;

export interface TreeNode {
  isDirectory: boolean;
  firstCluster: number;
  entryOffset: number;
}

interface CachedDir<N> {
  nodes: N[];
  byName: Map<string, N>;
  /** Damaged entries that were skipped: readdir reports them with the rest (a partial directory). */
  problems: CorruptImageError[];
}

export abstract class TreeVolume<N extends TreeNode> {
  private dirs = new Map<string, CachedDir<N>>();
  private cachedEntries = 0;
  /** Which directory path owns each directory cluster: a second owner is a loop or a cross-link. */
  protected dirOwners = new Map<number, string>();

  /** The entries of directory `node` (undefined: the root) at `path`. */
  protected abstract readDirectory(path: string, node: N | undefined): Promise<{ nodes: N[]; problems: CorruptImageError[] }>;
  protected abstract nameOf(n: N): string;
  /** The name as the filesystem compares it (upper case). */
  protected abstract fold(name: string): string;
  protected abstract toEntry(n: N, path: string): FileEntry;

  protected async dir(path: string, node: N | undefined): Promise<CachedDir<N>> {
    const d = this.dirs.get(path) ?? (await this.pending.get(path)?.catch(() => undefined)) ?? (await this.load(path, node));
    if (!this.prefetched.has(d)) {
      this.prefetched.add(d);
      this.prefetch(path, d);
    }
    return d;
  }

  private prefetched = new WeakSet<CachedDir<N>>();

  /** Directories being read ahead of the walk: reads overlap instead of waiting one by one. */
  private pending = new Map<string, Promise<CachedDir<N>>>();
  private queue: [string, N][] = [];
  private inFlight = 0;

  /** Queue a directory's subdirectories for reading while the caller works through this one. */
  private prefetch(path: string, d: CachedDir<N>): void {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const n of d.nodes) {
      if (this.queue.length + this.pending.size + this.dirs.size >= MAX_CACHED_DIRS / 2 || this.cachedEntries >= MAX_CACHED_ENTRIES / 2) break;
      if (n.isDirectory) this.queue.push([prefix + this.nameOf(n), n]);
    }
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < PREFETCH && this.queue.length) {
      const [p, n] = this.queue.shift()!;
      if (this.dirs.has(p) || this.pending.has(p)) continue;
      this.inFlight++;
      // Errors are not reported here: the walk's own read of the directory repeats and reports them.
      const job = this.load(p, n);
      this.pending.set(p, job);
      job.catch(() => undefined).finally(() => {
        this.pending.delete(p);
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async load(path: string, node: N | undefined): Promise<CachedDir<N>> {
    const cached = this.dirs.get(path);
    if (cached) return cached;
    if (node) {
      if (node.firstCluster === 0) throw new CorruptImageError(`directory ${path}`, node.entryOffset, 'a directory with a first cluster', 'cluster 0');
      const owner = this.dirOwners.get(node.firstCluster);
      if (owner !== undefined && owner !== path) {
        throw new CorruptImageError(`directory ${path}`, node.entryOffset, 'a first cluster no other directory uses', `cluster ${node.firstCluster}, also ${owner} (a directory loop or cross-link)`);
      }
      this.dirOwners.set(node.firstCluster, path);
    }
    const { nodes, problems } = await this.readDirectory(path, node);
    const byName = new Map<string, N>();
    for (const n of nodes) if (!byName.has(this.nameOf(n))) byName.set(this.nameOf(n), n);
    const d = { nodes, byName, problems };
    this.cachedEntries += nodes.length;
    this.dirs.set(path, d);
    while (this.dirs.size > 1 && (this.dirs.size > MAX_CACHED_DIRS || this.cachedEntries > MAX_CACHED_ENTRIES)) {
      const oldest = this.dirs.keys().next().value!;
      this.cachedEntries -= this.dirs.get(oldest)!.nodes.length;
      this.dirs.delete(oldest);
    }
    return d;
  }

  /** The node at `path` (none for the root) and the path spelled as stored. Exact names first, then case-insensitively. */
  protected async resolve(path: string): Promise<{ node?: N; path: string }> {
    let node: N | undefined;
    let cur = '/';
    for (const part of normalizePath(path).split('/').filter(Boolean)) {
      if (node && !node.isDirectory) throw new UsageError(`${cur}: not a directory`);
      const d = await this.dir(cur, node);
      let next = d.byName.get(part);
      if (!next) {
        const want = this.fold(part);
        next = d.nodes.find((n) => this.fold(this.nameOf(n)) === want);
      }
      if (!next) throw new UsageError(`${normalizePath(path)}: no such file or directory`);
      node = next;
      cur = cur === '/' ? `/${this.nameOf(next)}` : `${cur}/${this.nameOf(next)}`;
    }
    return { node, path: cur };
  }

  async stat(path: string): Promise<FileEntry> {
    const { node, path: p } = await this.resolve(path);
    return node ? this.toEntry(node, p) : { path: '/', name: '', type: 'directory', size: 0 };
  }

  async readdir(path: string): Promise<FileEntry[]> {
    const { node, path: p } = await this.resolve(path);
    if (node && !node.isDirectory) throw new UsageError(`${p}: not a directory`);
    const d = await this.dir(p, node);
    const prefix = p === '/' ? '/' : `${p}/`;
    const entries = d.nodes.map((n) => this.toEntry(n, prefix + this.nameOf(n)));
    if (d.problems.length) throw new PartialDirectoryError(entries, d.problems);
    return entries;
  }

  /** A file's node, for openFile. */
  protected async fileNode(path: string): Promise<{ node: N; path: string }> {
    const { node, path: p } = await this.resolve(path);
    if (!node || node.isDirectory) throw new UsageError(`${p}: is a directory`);
    return { node, path: p };
  }

  /** A directory's nodes with their paths, and its damaged entries, for check. */
  async children(path: string): Promise<{ list: { path: string; node: N; isDirectory: boolean }[]; problems: CorruptImageError[] }> {
    const { node, path: p } = await this.resolve(path);
    const d = await this.dir(p, node);
    const prefix = p === '/' ? '/' : `${p}/`;
    return { list: d.nodes.map((n) => ({ path: prefix + this.nameOf(n), node: n, isDirectory: n.isDirectory })), problems: d.problems };
  }

  /** The node behind a path (undefined for the root). */
  async node(path: string): Promise<N | undefined> {
    return (await this.resolve(path)).node;
  }
}
