import { describe, it, expect } from 'vitest';
import { CorruptImageError, PartialDirectoryError, UsageError, walk, walkTree, type FileEntry, type Volume, type WalkProblem } from './index.js';

/** A volume from a path → children map; `bad` directories throw, `partial` ones list in part. */
function fakeVolume(tree: Record<string, string[]>, bad: Record<string, Error> = {}): Volume {
  const entry = (path: string): FileEntry => ({ path, name: path.slice(path.lastIndexOf('/') + 1), type: tree[path] ? 'directory' : 'file', size: 0 });
  return {
    type: 'fake',
    async stat(p) { return entry(p); },
    async readdir(p) {
      const err = bad[p];
      if (err) throw err;
      return (tree[p] ?? []).map((n) => entry(p === '/' ? `/${n}` : `${p}/${n}`));
    },
    async openFile() { throw new Error('no'); },
    async info() { return {}; },
  };
}

const tree = { '/': ['a', 'b', 'z'], '/a': ['x', 'y'], '/a/y': ['deep'], '/b': ['c'] };

describe('walk', () => {
  it('is pre-order: a directory, then its contents, then its next sibling', async () => {
    const steps: string[] = [];
    for await (const s of walkTree(fakeVolume(tree))) steps.push(`${s.depth}${s.last ? '*' : ''} ${s.entry.path}`);
    expect(steps).toEqual(['0 /a', '1 /a/x', '1* /a/y', '2* /a/y/deep', '0 /b', '1* /b/c', '0* /z']);
  });

  it('reports a damaged directory with its structure and offset, and walks the rest', async () => {
    const vol = fakeVolume(tree, { '/a': new CorruptImageError('directory record', 4096, 'x', 'y') });
    const problems: WalkProblem[] = [];
    const paths: string[] = [];
    for await (const e of walk(vol, '/', { onError: (p) => problems.push(p) })) paths.push(e.path);
    expect(paths).toEqual(['/a', '/b', '/b/c', '/z']);
    expect(problems.map((p) => [p.path, p.structure, p.offset])).toEqual([['/a', 'directory record', 4096]]);
  });

  it('walks the readable entries of a directory read in part', async () => {
    const partial = new PartialDirectoryError([{ path: '/a/x', name: 'x', type: 'file', size: 0 }], [new CorruptImageError('Rock Ridge continuation area', 9000, 'no loop', 'a loop')]);
    const problems: WalkProblem[] = [];
    const paths: string[] = [];
    for await (const e of walk(fakeVolume(tree, { '/a': partial }), '/', { onError: (p) => problems.push(p) })) paths.push(e.path);
    expect(paths).toEqual(['/a', '/a/x', '/b', '/b/c', '/z']);
    expect(problems[0]!.offset).toBe(9000);
  });

  it('without onError the first damaged directory ends the walk with its error', async () => {
    const vol = fakeVolume(tree, { '/b': new CorruptImageError('directory', 1, 'x') });
    const run = async () => { for await (const _ of walk(vol)) void _; };
    await expect(run()).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('usage errors and bugs are not skipped as damage', async () => {
    const problems: WalkProblem[] = [];
    const run = (err: Error) => async () => { for await (const _ of walk(fakeVolume(tree, { '/a': err }), '/', { onError: (p) => problems.push(p) })) void _; };
    await expect(run(new UsageError('no'))()).rejects.toBeInstanceOf(UsageError);
    await expect(run(new TypeError('bug'))()).rejects.toBeInstanceOf(TypeError);
    expect(problems).toEqual([]);
  });

  it('a depth bomb is reported, not followed', async () => {
    const deep: Record<string, string[]> = { '/': ['d'] };
    let p = '/d';
    for (let i = 0; i < 20; i++) { deep[p] = ['d']; p += '/d'; }
    const problems: WalkProblem[] = [];
    let n = 0;
    for await (const _ of walk(fakeVolume(deep), '/', { maxDepth: 5, onError: (x) => problems.push(x) })) n++;
    expect(n).toBe(6);
    expect(problems[0]!.structure).toBe('directory tree');
  });
});
