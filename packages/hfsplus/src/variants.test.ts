import { beforeAll, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryDevice, walk, UsageError } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { buildHfs } from './test/build-hfs.js';
import { diskit, diskitList, sevenZipList } from './test/judge.js';
import { HfsVolume } from './hfs-volume.js';

const tmp = mkdtempSync(join(tmpdir(), 'diskit-hfs-variants-'));
const text = (s: string) => new TextEncoder().encode(s);

describeWithTools(['7z'], 'HFSX, HFS wrappers and directory hard links against 7-Zip', () => {
  const images: Record<string, string> = {};
  beforeAll(() => {
    const cased = ['README', 'ReadMe', 'readme', 'Zeta', 'alpha', 'Alpha', 'ÄRGER'.normalize('NFD'), 'ärger'.normalize('NFD')];
    images.hfsx = join(tmp, 'cased.hfsx');
    writeFileSync(images.hfsx, buildHfs('Cased', cased.map((name, i) => ({ name, data: text(`${name} ${i}\n`) })), { hfsx: true }));
    images.wrapped = join(tmp, 'wrapped.hfs');
    writeFileSync(images.wrapped, buildHfs('Wrapped', [{ name: 'inside.txt', data: text('embedded in an HFS wrapper\n') }], { wrapper: true }));
    images.dirlinks = join(tmp, 'dirlinks.hfs');
    writeFileSync(images.dirlinks, buildHfs('Links', [
      { name: 'backup-1', dirLinkTo: 5 }, { name: 'backup-2', dirLinkTo: 5 }, { name: 'plain.txt', data: text('plain') },
    ], { dirs: { 5: [{ name: 'shared.txt', data: text('in a folder linked twice\n') }] } }));
  });

  it('the built volumes pass check', async () => {
    for (const k of ['hfsx', 'wrapped', 'dirlinks']) {
      const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(readFileSync(images[k]!))));
      expect([k, (await vol.check()).problems]).toEqual([k, []]);
    }
  });

  it('HFSX: names that differ only in case are distinct, listed and looked up exactly', async () => {
    expect(diskitList(images.hfsx!)).toEqual(sevenZipList(images.hfsx!, 'hfs').map((i) => ({ path: i.path, type: i.type, size: i.size })));
    const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(readFileSync(images.hfsx!))));
    expect(vol.type).toBe('hfsx');
    expect((await vol.info()).caseSensitive).toBe(true);
    expect((await vol.readdir('/')).length).toBe(8);
    for (const n of ['README', 'ReadMe', 'readme', 'Alpha', 'alpha']) expect((await vol.stat('/' + n)).name).toBe(n);
    await expect(vol.stat('/README.')).rejects.toBeInstanceOf(UsageError);
    await expect(vol.stat('/rEADME')).rejects.toBeInstanceOf(UsageError);
    // A composed name still finds its decomposed form (HFSX keeps names decomposed too).
    expect((await vol.stat('/ärger'.normalize('NFC'))).size).toBe(text('ärger'.normalize('NFD') + ' 7\n').length);
  });

  it('an HFS+ volume inside an HFS wrapper', async () => {
    expect(diskitList(images.wrapped!)).toEqual([{ path: '/inside.txt', type: 'file', size: 27 }]);
    const info = JSON.parse(diskit('info', '--json', images.wrapped!));
    expect(info.filesystem).toMatchObject({ type: 'hfsplus', volumeName: 'Wrapped', wrapped: true });
    expect(diskit('ls', '-l', images.wrapped!, '/inside.txt')).toMatch(/ 27 /);
    expect(sevenZipList(images.wrapped!, 'hfs')).toEqual([{ path: '/inside.txt', type: 'file', size: 27, mode: '-rw-r--r--', mtime: '2024-01-02 03:04:05' }]);
  });

  it('directory hard links: the linked folder is listed under every link, as on a Mac', async () => {
    const vol = await HfsVolume.mount(new MemoryDevice(new Uint8Array(readFileSync(images.dirlinks!))));
    const paths: string[] = [];
    for await (const e of walk(vol)) paths.push(`${e.type} ${e.path}`);
    expect(paths.sort()).toEqual([
      'directory /backup-1', 'directory /backup-2', 'file /backup-1/shared.txt', 'file /backup-2/shared.txt', 'file /plain.txt',
    ]);
    const a = await vol.stat('/backup-1/shared.txt');
    expect(a.inode).toBe((await vol.stat('/backup-2/shared.txt')).inode);
    // 7-Zip shows the links as the empty 'fdrp' files they are on disk, and the linked folder in
    // the private folder macOS hides; the file's bytes are the same.
    const ref = sevenZipList(images.dirlinks!, 'hfs');
    expect(ref.filter((i) => i.path.startsWith('/backup')).map((i) => [i.path, i.type, i.size])).toEqual([['/backup-1', 'file', 0], ['/backup-2', 'file', 0]]);
  });

  it('a directory hard link inside the folder it links to is an error when walked into, not an endless walk', async () => {
    const b = buildHfs('Loop', [{ name: 'top', dirLinkTo: 9 }], { dirs: { 9: [{ name: 'again', dirLinkTo: 9 }, { name: 'f.txt', data: text('f') }] } });
    const vol = await HfsVolume.mount(new MemoryDevice(b));
    expect((await vol.readdir('/top')).map((e) => `${e.type} ${e.name}`)).toEqual(['directory again', 'file f.txt']);
    await expect(vol.readdir('/top/again')).rejects.toThrow(/own ancestor/);
  });
});
