import { afterAll, beforeAll, expect, it } from 'vitest';
import { walk, collectExtents } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { manifest, tempDir, unpackFull, mountFile, sha256, cleanup } from './test/fixture.js';
import type { NtfsVolume } from './volume.js';

let dir: string;
let vol: NtfsVolume;

describeWithTools(['xz'], 'NTFS made by ntfs-3g (test-images/make-ntfs.sh)', () => {
  beforeAll(async () => {
    dir = tempDir('read');
    ({ vol } = await mountFile(unpackFull(dir)));
  });
  afterAll(() => cleanup(dir));

  it('lists the source tree: paths, types, sizes, symlink targets', async () => {
    const seen = [];
    for await (const e of walk(vol)) {
      if (e.path.startsWith('/many/')) continue;
      seen.push({ kind: e.type === 'directory' ? 'd' : e.type === 'symlink' ? 'l' : 'f', size: e.type === 'file' ? e.size : 0, target: e.target, path: e.path });
    }
    const want = manifest().filter((m) => m.kind !== 's').map((m) => ({ kind: m.kind, size: m.size, target: m.kind === 'l' ? m.hash : undefined, path: m.path }));
    const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    expect(seen.sort(byPath)).toEqual(want.sort(byPath));
  });

  it('every file and stream has the source sha256 (fragmented, sparse, > 4 GiB, LZNT1, resident)', async () => {
    for (const m of manifest()) {
      if (m.path === '/big.bin') continue; // 5 GiB: checked by its extents below
      if (m.kind === 'f') expect(await sha256(await vol.openFile(m.path)), m.path).toBe(m.hash);
      if (m.kind === 's') {
        const [path, name] = [m.path.slice(0, m.path.lastIndexOf(':')), m.path.slice(m.path.lastIndexOf(':') + 1)];
        expect(await sha256(await vol.openStream(path, name)), m.path).toBe(m.hash);
      }
    }
  });

  it('a directory of 10,000 entries comes back whole and in order', async () => {
    const names = (await vol.readdir('/many')).map((e) => e.name);
    expect(names.length).toBe(10000);
    expect(names).toEqual(Array.from({ length: 10000 }, (_, i) => `e${String(i + 1).padStart(5, '0')}`));
  });

  it('holes are zero extents: the sparse and the 5 GiB files are mostly not data', async () => {
    for (const p of ['/sparse.bin', '/big.bin']) {
      const ext = await collectExtents(await vol.openFile(p));
      const data = ext.filter((e) => e.kind === 'data').reduce((n, e) => n + e.length, 0);
      expect(data, p).toBeLessThan(1 << 20);
      expect(ext.some((e) => e.kind === 'zero')).toBe(true);
    }
    // The 5 GiB file: its data extents hold only the one line written past 4 GiB, the rest is holes.
    const big = await vol.openFile('/big.bin');
    let text = '';
    for (const e of await collectExtents(big)) {
      if (e.kind !== 'data') continue;
      const b = new Uint8Array(e.length);
      await big.read(b, e.offset);
      for (let i = 0; i < b.length; i++) if (b[i]) text += String.fromCharCode(b[i]!) + (e.offset + i === 4 * 1024 ** 3 + 12345 ? '@' : '');
    }
    expect(text).toBe('p@ast four gibibytes\n');
  });

  it('hard links share an inode and count their names; streams are listed', async () => {
    const a = await vol.stat('/hello.txt');
    const b = await vol.stat('/dir/hello-link.txt');
    expect(a.inode).toBe(b.inode);
    expect(a.nlink).toBe(2);
    expect((await vol.streams('/streams.txt')).map((s) => [s.name, s.size])).toEqual([['alpha', 12], ['beta', 13893]]);
    expect(await vol.streams('/hello.txt')).toEqual([]);
  });

  it('compressed files are flagged; DOS names hidden unless names=dos', async () => {
    expect((await vol.stat('/packed/numbers.txt')).attributes).toContain('compressed');
    expect((await vol.readdir('/')).map((e) => e.name)).not.toContain('ALONGF~1.TEX');
    const { vol: dos } = await mountFile(`${dir}/full.img`, { names: 'dos' });
    const names = (await dos.readdir('/')).map((e) => e.name);
    expect(names).toContain('ALONGF~1.TEX');
    expect(names).not.toContain('A long file name.text');
  });

  it('the fixture has what it claims: fragmented $MFT and file, an attribute list, LZNT1 units', async () => {
    const frag = (await vol.fileRuns('/fragmented.txt')).runs;
    expect(frag.length).toBeGreaterThanOrEqual(2);
    expect(frag[1]!.lcn).not.toBe(frag[0]!.lcn + frag[0]!.length);
    const mft = (vol as unknown as { mft: { runs: unknown[] } }).mft;
    expect(mft.runs.length).toBeGreaterThanOrEqual(2);
    const links = await vol.fileRuns('/links/target');
    expect(links.attributeList).toBe(true);
    expect((await vol.stat('/links/name-077')).nlink).toBe(121);
    expect((await vol.stat('/links/name-077')).inode).toBe((await vol.stat('/links/target')).inode);
    expect((await vol.fileRuns('/packed/numbers.txt')).runs.some((r) => r.lcn < 0)).toBe(true);
  });

  it('lookups ignore case when only one name matches; case-only-different names stay exact', async () => {
    expect((await vol.stat('/HELLO.TXT')).path).toBe('/hello.txt');
    expect((await vol.stat('/DIR/SUB/deeper/LEAF.txt')).size).toBe(10);
    expect((await vol.stat('/Case/README')).inode).not.toBe((await vol.stat('/Case/Readme')).inode);
    await expect(vol.stat('/Case/readme')).rejects.toThrow(/no such file/);
  });

  it('info: label, version, cluster size, serial', async () => {
    const i = await vol.info();
    expect(i).toMatchObject({ label: 'diskit ntfs', version: '3.1', clusterSize: 4096, dirty: false });
    expect(i.serial).toMatch(/^[0-9A-F]{16}$/);
  });

  it('a symlink is not opened as a file', async () => {
    await expect(vol.openFile('/link-to-leaf')).rejects.toThrow(/symlink/);
    await expect(vol.openFile('/winlink')).rejects.toThrow(/symlink/);
  });
});
