import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicOutput } from './node.js';

const dir = () => mkdtempSync(join(tmpdir(), 'diskit-atomic-'));

async function writeOut(target: string, text: string, force = true): Promise<void> {
  const out = await AtomicOutput.create(target, { force });
  await out.write(new TextEncoder().encode(text), 0);
  await out.commit();
}

describe('AtomicOutput replacing an existing file', () => {
  it('replaces it (the old one moved aside, then removed): no temporary or old file is left', async () => {
    const d = dir();
    const t = join(d, 'out.img');
    writeFileSync(t, 'old contents');
    await writeOut(t, 'new');
    expect(readFileSync(t, 'utf8')).toBe('new');
    expect(readdirSync(d)).toEqual(['out.img']);
  });

  it('a symlink under the target name is replaced by the file, its target untouched', async () => {
    const d = dir();
    writeFileSync(join(d, 'victim'), 'keep');
    symlinkSync(join(d, 'victim'), join(d, 'out.img'));
    await writeOut(join(d, 'out.img'), 'new');
    expect(lstatSync(join(d, 'out.img')).isFile()).toBe(true);
    expect(readFileSync(join(d, 'victim'), 'utf8')).toBe('keep');
    expect(readdirSync(d).sort()).toEqual(['out.img', 'victim']);
  });

  it('a directory under the target name stays: the commit fails and the directory is as it was', async () => {
    const d = dir();
    mkdirSync(join(d, 'out.img'));
    writeFileSync(join(d, 'out.img', 'inside'), 'x');
    const out = await AtomicOutput.create(join(d, 'out.img'), { force: true });
    await out.write(new Uint8Array(4), 0);
    await expect(out.commit()).rejects.toThrow();
    await out.abort();
    expect(readdirSync(join(d, 'out.img'))).toEqual(['inside']);
    expect(readdirSync(d)).toEqual(['out.img']);
  });
});
