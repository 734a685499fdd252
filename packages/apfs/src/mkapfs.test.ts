import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { describeWithTools, run } from '../../../test/tools.js';
import { diskit, diskitList, tempDir } from './test/helpers.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('mkapfs');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh container made by mkapfs (apfsprogs), confirmed valid by apfsck. */
function mkapfs(name: string, args: string[]): string {
  const img = join(dir, name);
  writeFileSync(img, '');
  truncateSync(img, 128 << 20);
  run('mkapfs', [...args, img]);
  run('apfsck', [img]);
  return img;
}

describeWithTools(['mkapfs', 'apfsck'], 'containers made by mkapfs', () => {
  it('case-insensitive (the default): info names the volume; the root is empty', () => {
    const img = mkapfs('ci.img', ['-L', 'Plain Name']);
    const r = diskit('info', '--json', img);
    expect(r.status, r.stderr).toBe(0);
    const fs = JSON.parse(r.stdout).filesystem;
    expect(fs).toMatchObject({ type: 'apfs', volumeName: 'Plain Name', caseSensitive: false, blockCount: 32768, volume: 1 });
    expect(fs.volumes[0]).toMatchObject({ name: 'Plain Name', caseSensitive: false, encrypted: false, sealed: false, formattedBy: expect.stringContaining('mkapfs') });
    expect(diskitList(img)).toEqual([]);
    expect(diskit('ls', img, '/missing').status).toBe(2);
  });

  it('case-sensitive (-s): info says so; --volume by number and by name', () => {
    const img = mkapfs('cs.img', ['-s', '-L', 'Sensitive']);
    const fs = JSON.parse(diskit('info', '--json', img).stdout).filesystem;
    expect(fs).toMatchObject({ volumeName: 'Sensitive', caseSensitive: true });
    expect(diskit('ls', img, '--volume', '1').status).toBe(0);
    expect(diskit('ls', img, '--volume', 'Sensitive').status).toBe(0);
    expect(diskit('ls', img, '--volume', '2').status).toBe(2);
  });
});
