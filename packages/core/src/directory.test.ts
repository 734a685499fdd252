import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobDevice, UsageError, fileSetSource, readBytes } from './index.js';
import { DirectoryOutput, directorySize, directorySource, liveTempOutputs } from './node.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'coredir-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('folder images', () => {
  it('fileSetSource lists one level at a time and opens Blobs as devices', async () => {
    const files = new Map([
      ['Info.plist', new Blob(['<plist/>'])],
      ['bands/0', new Blob([new Uint8Array([1, 2, 3, 4])])],
      ['bands/a', new Blob(['x'])],
    ]);
    const src = fileSetSource('x', files);
    expect(await src.list('')).toEqual(['Info.plist', 'bands']);
    expect(await src.list('bands')).toEqual(['0', 'a']);
    expect(await src.list('nothing')).toEqual([]);
    const dev = (await src.open('bands/0'))!;
    expect(dev).toBeInstanceOf(BlobDevice);
    expect([...(await readBytes(dev, 1, 2))]).toEqual([2, 3]);
    await expect(readBytes(dev, 3, 2)).rejects.toThrow(/outside the device/);
    expect(await src.open('bands/1')).toBeUndefined();
  });

  it('directorySource stays inside its folder; missing files are undefined, not errors', async () => {
    const root = join(dir, 'src');
    mkdirSync(join(root, 'bands'), { recursive: true });
    writeFileSync(join(root, 'bands/0'), 'abc');
    const src = directorySource(root);
    expect(await src.list('')).toEqual(['bands']);
    expect(await src.list('bands')).toEqual(['0']);
    expect(await src.list('none')).toEqual([]);
    expect((await src.open('bands/0'))!.size).toBe(3);
    expect(await src.open('bands/1')).toBeUndefined();
    await expect(src.open('../src/bands/0')).rejects.toThrow(UsageError);
    await expect(src.open('/etc/passwd')).rejects.toThrow(UsageError);
    expect(await directorySize(root)).toMatchObject({ bytes: 3 });
  });

  it('DirectoryOutput appears only on commit, replaces with force, and leaves nothing on abort', async () => {
    const target = join(dir, 'out.bundle');
    const out = await DirectoryOutput.create(target);
    const f = await out.create('bands/0');
    await f.write(new Uint8Array([9, 9]), 0);
    await f.close();
    expect(existsSync(target)).toBe(false);
    expect(liveTempOutputs()).toContain(out.tempPath);
    await out.commit();
    expect(readFileSync(join(target, 'bands/0'))).toEqual(Buffer.from([9, 9]));
    expect(liveTempOutputs()).not.toContain(out.tempPath);

    await expect(DirectoryOutput.create(target)).rejects.toThrow(/exists/);
    const again = await DirectoryOutput.create(target, { force: true });
    await (await again.create('token')).close();
    await again.commit();
    expect(readdirSync(target)).toEqual(['token']);

    const failed = await DirectoryOutput.create(join(dir, 'never'));
    await failed.create('a/b/c');
    await failed.abort();
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('diskit'))).toEqual([]);
    const x = await DirectoryOutput.create(join(dir, 'x'));
    await expect(x.create('../escape')).rejects.toThrow(UsageError);
    await x.abort();
  });
});
