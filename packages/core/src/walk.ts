/**
 * The one walker every command uses (ls -R, tree, extract, check). The rule for every filesystem:
 * a directory that cannot be read is reported (path, structure, offset) and its subtree skipped;
 * the rest is still walked, and the caller turns "something was skipped" into exit code 1.
 */
import { CorruptImageError, DiskitError, PartialDirectoryError, UsageError } from './errors.js';
import { normalizePath, type FileEntry, type Volume } from './volume.js';

/** A directory the walk could not read (or read only in part). */
export interface WalkProblem {
  /** The directory's path. */
  path: string;
  error: DiskitError;
  /** The damaged structure and its byte offset, when the error names them. */
  structure?: string;
  offset?: number;
}

export interface WalkOptions {
  /**
   * Called for each damaged directory; the walk goes on with the rest. Without it the first
   * damaged directory ends the walk with its error (never a silently short listing).
   */
  onError?: (problem: WalkProblem) => void;
  /** Deeper directories are reported as damaged (a depth bomb), not followed. */
  maxDepth?: number;
}

/** One entry of a pre-order walk, with what a tree drawing needs. */
export interface WalkStep {
  entry: FileEntry;
  /** 0 for the children of the walk's root. */
  depth: number;
  /** The last entry of its directory. */
  last: boolean;
}

const MAX_DEPTH = 4096;

/** Describe a readdir failure for a report. */
function problemOf(path: string, error: DiskitError): WalkProblem {
  const p: WalkProblem = { path, error };
  if (error instanceof CorruptImageError) {
    p.structure = error.structure;
    p.offset = error.offset;
  }
  return p;
}

/**
 * One directory's entries, the walker's way: with `onError`, damage is reported and what could be
 * read is returned (nothing, or a partial directory's readable entries).
 */
export async function readDirectory(vol: Volume, path: string, opts: WalkOptions = {}, depth = 0): Promise<FileEntry[]> {
  try {
    const maxDepth = opts.maxDepth ?? MAX_DEPTH;
    if (depth > maxDepth) throw new CorruptImageError('directory tree', 0, `a depth of at most ${maxDepth}`, `${path} deeper`);
    return await vol.readdir(path);
  } catch (e) {
    // Usage errors and bugs are not damage: they end the walk.
    if (!opts.onError || !(e instanceof DiskitError) || e instanceof UsageError) throw e;
    opts.onError(problemOf(path, e));
    return e instanceof PartialDirectoryError ? e.entries : [];
  }
}

/** Pre-order: each directory's entry comes right before its contents. */
export async function* walkTree(vol: Volume, root = '/', opts: WalkOptions = {}): AsyncIterable<WalkStep> {
  const read = (path: string, depth: number) => readDirectory(vol, path, opts, depth);
  const stack: { entries: FileEntry[]; next: number; depth: number }[] = [{ entries: await read(normalizePath(root), 0), next: 0, depth: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.entries.length) {
      stack.pop();
      continue;
    }
    const entry = top.entries[top.next++]!;
    yield { entry, depth: top.depth, last: top.next === top.entries.length };
    if (entry.type === 'directory') {
      const entries = await read(entry.path, top.depth + 1);
      if (entries.length) stack.push({ entries, next: 0, depth: top.depth + 1 });
    }
  }
}

/** Every entry under `root`, depth-first, each directory before its contents. */
export async function* walk(vol: Volume, root = '/', opts: WalkOptions = {}): AsyncIterable<FileEntry> {
  for await (const step of walkTree(vol, root, opts)) yield step.entry;
}
