/**
 * Containers written by the test builder (test/build-*.ts) with what mkapfs cannot put in
 * (files, links, compression, snapshots, many records), judged by 7-Zip: the listing and the
 * extracted bytes must match.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { MemoryDevice, collectExtents } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { diskit, diskitList, sevenZipList, tempDir, treeHashes } from './test/helpers.js';
import { buildApfs, type Entry } from './test/build-container.js';
import { decmpfs } from './test/decmpfs-encode.js';
import { apfsFilesystem, openContainer, ObjectMap, BTree, type ApfsVolume } from './index.js';

let dir: string;
beforeAll(() => {
  dir = tempDir('built');
});
afterAll(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

const text = (s: string) => new TextEncoder().encode(s);
const big = randomBytes(300_000);
const compressible = text('All work and no play makes Jack a dull boy. '.repeat(6000)); // 264,000 bytes: 5 chunks
const sparse = new Uint8Array(1 << 20);
sparse.set(randomBytes(5000), 0);
sparse.set(randomBytes(100), (1 << 20) - 100);

const entries: Entry[] = [
  { path: '/a.txt', type: 'file', data: text('hello apfs\n'), xattrs: { 'user.note': text('an attribute') } },
  { path: '/empty', type: 'file', data: new Uint8Array(0) },
  { path: '/big.bin', type: 'file', data: big },
  { path: '/dir', type: 'directory' },
  { path: '/dir/sub', type: 'directory' },
  { path: '/dir/sub/deep.txt', type: 'file', data: text('deep\n') },
  { path: '/dir/héllo wörld.txt', type: 'file', data: text('unicode\n') },
  { path: '/dir/' + 'L'.repeat(250), type: 'file', data: text('long name\n') },
  { path: '/dir/hard', type: 'file', linkTo: '/a.txt' },
  { path: '/link', type: 'symlink', target: 'dir/sub/deep.txt' },
  { path: '/z-zlib-inline', type: 'file', decmpfs: decmpfs(text('zlib inline '.repeat(50)), 'zlib-inline') },
  { path: '/z-zlib-stored', type: 'file', decmpfs: decmpfs(text('stored inline'), 'zlib-stored-inline') },
  { path: '/z-zlib-fork', type: 'file', decmpfs: decmpfs(compressible, 'zlib-fork') },
  { path: '/z-lzvn-inline', type: 'file', decmpfs: decmpfs(text('lzvn inline aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!'), 'lzvn-inline') },
  { path: '/z-lzvn-fork', type: 'file', decmpfs: decmpfs(compressible, 'lzvn-fork') },
];
const many: Entry[] = [{ path: '/many', type: 'directory' }];
for (let i = 0; i < 1500; i++) many.push({ path: `/many/f${String(i).padStart(5, '0')}.txt`, type: 'file', data: text(`file ${i}\n`) });

describeWithTools(['7z'], 'containers from the test builder, judged by 7-Zip', () => {
  it('files, directories, symlinks, hard links, xattrs, decmpfs (zlib, LZVN; inline and resource fork): listing and bytes match 7z', async () => {
    const img = join(dir, 'rich.img');
    writeFileSync(img, buildApfs([{ name: 'Rich', entries }]));
    const ours = diskitList(img);
    expect(ours.length).toBe(entries.length);
    expect(ours).toEqual(sevenZipList(img));
    const a = join(dir, 'rich-ours'), b = join(dir, 'rich-7z');
    const r = diskit('extract', img, '/', a);
    expect(r.status, r.stderr).toBe(0);
    run('7z', ['x', '-y', `-o${b}`, img]);
    // 7-Zip writes extended attributes as `file:name` beside the file: those are compared as streams.
    const all = treeHashes(b);
    const theirs = new Map([...all].filter(([p]) => !p.includes(':')));
    expect(theirs.size).toBe(entries.filter((e) => e.type === 'file').length);
    expect(treeHashes(a)).toEqual(theirs);
    const streams = [...all].filter(([p]) => p.includes(':'));
    expect(streams.map(([p]) => p).sort()).toEqual(['/a.txt:user.note', '/dir/hard:user.note']);
    const vol = await apfsFilesystem.mount(new MemoryDevice(readFileSync(img), { readOnly: true }));
    for (const [p, hash] of streams) {
      const [file, name] = p.split(':') as [string, string];
      const s = await vol.openStream!(file, name);
      const buf = new Uint8Array(s.size);
      await s.read(buf, 0);
      expect(createHash('sha256').update(buf).digest('hex'), p).toBe(hash);
    }
  });

  it('1,500 files in one directory: a file-system tree of several levels and a two-level object map', async () => {
    const bytes = buildApfs([{ name: 'Many', entries: many }]);
    const img = join(dir, 'many.img');
    writeFileSync(img, bytes);
    expect(diskitList(img)).toEqual(sevenZipList(img));
    const vol = await apfsFilesystem.mount(new MemoryDevice(bytes, { readOnly: true }));
    const f = await vol.openFile('/many/f01234.txt');
    const got = new Uint8Array(f.size);
    await f.read(got, 0);
    expect(new TextDecoder().decode(got)).toBe('file 1234\n');
    // The shapes this test is for: a file-system tree and a volume object map of more than one level.
    const c = await openContainer(new MemoryDevice(bytes, { readOnly: true }));
    const omap = await ObjectMap.open(c.store, c.volumes[0]!.omapOid, 'v');
    const omapRoot = await new BTree(c.store, omap.treeAddr, 'omap', 0x0b).root();
    const fsRoot = await new BTree(c.store, c.volumes[0]!.rootTreeOid, 'fs', 0x0e, (o) => omap.resolve(o, c.sb.xid, 'node')).root();
    expect(omapRoot.level).toBeGreaterThanOrEqual(1);
    expect(fsRoot.level).toBeGreaterThanOrEqual(1);
  });
});

describeWithTools(['7z', 'sgdisk'], 'a built container inside every container format, judged by 7-Zip', () => {
  it('GPT raw disk (sgdisk), then the DMG and VHD diskit convert makes of it: the same listing and bytes as 7z', () => {
    const apfs = buildApfs([{ name: 'Rich', entries }]);
    const raw = join(dir, 'gpt.img');
    writeFileSync(raw, new Uint8Array(apfs.length + (2 << 20)));
    run('sgdisk', ['-n1:2048:+' + apfs.length / 512, '-t1:AF0A', '-c1:Rich', raw]);
    const disk = readFileSync(raw);
    disk.set(apfs, 2048 * 512);
    writeFileSync(raw, disk);
    const dmg = join(dir, 'gpt.dmg'), vhd = join(dir, 'gpt.vhd');
    expect(diskit('convert', '-O', 'dmg', raw, dmg).status).toBe(0);
    expect(diskit('convert', '-f', 'raw', '-O', 'vhd', raw, vhd).status).toBe(0);
    const expected = sevenZipList(raw);
    expect(expected.length).toBe(entries.length);
    for (const img of [raw, dmg, vhd]) {
      expect(diskitList(img), img).toEqual(expected);
      if (img !== vhd) expect(sevenZipList(img), img).toEqual(expected);
    }
    const a = join(dir, 'dmg-ours'), b = join(dir, 'dmg-7z');
    expect(diskit('extract', dmg, '/', a).status).toBe(0);
    run('7z', ['x', '-y', `-o${b}`, dmg]);
    expect(treeHashes(a)).toEqual(new Map([...treeHashes(b)].filter(([p]) => !p.includes(':'))));
  });
});

describe('containers from the test builder, read by diskit', () => {
  const withSparse: Entry[] = [...entries, { path: '/sparse.img', type: 'file', data: sparse, sparse: true }];
  const bytes = buildApfs([
    { name: 'First', entries: [{ path: '/first.txt', type: 'file', data: text('1') }] },
    {
      name: 'Data', role: 0x40, caseInsensitive: true, entries: withSparse,
      snapshots: [{ name: 'before', entries: [{ path: '/old.txt', type: 'file', data: text('old\n') }] }],
    },
  ]);
  const dev = () => new MemoryDevice(bytes, { readOnly: true });

  it('the default volume is the data volume; --volume picks another; info lists both with their snapshots', async () => {
    const vol = await apfsFilesystem.mount(dev());
    const info = await vol.info();
    expect(info).toMatchObject({ volumeName: 'Data', volume: 2, caseSensitive: false });
    expect((info.volumes as { name: string; role: string; snapshots: { name: string }[] }[]).map((v) => [v.name, v.role, v.snapshots.map((s) => s.name)])).toEqual([['First', 'none', []], ['Data', 'data', ['before']]]);
    const first = await apfsFilesystem.mount(dev(), { volume: '1' });
    expect((await first.readdir('/')).map((e) => e.name)).toEqual(['first.txt']);
  });

  it('--snapshot reads the tree at the snapshot’s transaction (same virtual ids, older mappings)', async () => {
    const snap = await apfsFilesystem.mount(dev(), { snapshot: 'before' });
    expect((await snap.readdir('/')).map((e) => e.name)).toEqual(['old.txt']);
    expect((await snap.info()).snapshot).toBe('before');
    const live = await apfsFilesystem.mount(dev());
    await expect(live.stat('/old.txt')).rejects.toThrow(/no such file/);
  });

  it('the CLI passes --volume and --snapshot through to the mount', () => {
    const img = join(dir, 'two.img');
    writeFileSync(img, bytes);
    expect(diskitList(img, '--volume', 'First').map((e) => e.path)).toEqual(['/first.txt']);
    expect(diskitList(img, '--snapshot', 'before').map((e) => e.path)).toEqual(['/old.txt']);
    const out = join(dir, 'snap-out');
    expect(diskit('extract', img, '/', out, '--snapshot', 'before').status).toBe(0);
    expect(readFileSync(join(out, 'old.txt'), 'utf8')).toBe('old\n');
    const info = JSON.parse(diskit('info', '--json', img).stdout).filesystem;
    expect(info.volumes.map((v: { name: string }) => v.name)).toEqual(['First', 'Data']);
  });

  it('diskit extract leaves a sparse file’s holes as holes', () => {
    const img = join(dir, 'sparse.img');
    writeFileSync(img, bytes);
    const out = join(dir, 'sparse-out');
    expect(diskit('extract', img, '/sparse.img', out).status).toBe(0);
    const got = readFileSync(join(out, 'sparse.img'));
    expect(got.equals(Buffer.from(sparse))).toBe(true);
    // Three 4 KiB blocks hold data; the file system may round up a little, never to the whole MiB.
    expect(statSync(join(out, 'sparse.img')).blocks * 512).toBeLessThan(256 << 10);
  });

  it('hashed, case-insensitive names: lookups ignore case and normalisation', async () => {
    const vol = (await apfsFilesystem.mount(dev())) as ApfsVolume;
    expect((await vol.stat('/DIR/SUB/DEEP.TXT')).size).toBe(5);
    expect((await vol.stat('/dir/he\u0301llo wo\u0308rld.txt')).type).toBe('file');
    expect((await vol.stat('/Z-ZLIB-FORK')).size).toBe(compressible.length);
    // Found by their key hashes, not by listing the directories.
    expect(vol.lookupScans).toBe(0);
    await expect(vol.stat('/dir/nothing')).rejects.toThrow(/no such file/);
    expect(vol.lookupScans).toBe(1);
  });

  it('hard links share an inode and count their links; symlink targets; xattrs as streams', async () => {
    const vol = await apfsFilesystem.mount(dev());
    const a = await vol.stat('/a.txt'), h = await vol.stat('/dir/hard');
    expect(h.inode).toBe(a.inode);
    expect(a.nlink).toBe(2);
    expect((await vol.stat('/link')).target).toBe('dir/sub/deep.txt');
    // The same through a listing (which reads the children's inodes and attributes in one scan).
    const root = await vol.readdir('/');
    expect(root.find((e) => e.name === 'link')?.target).toBe('dir/sub/deep.txt');
    expect(root.find((e) => e.name === 'z-zlib-fork')?.size).toBe(compressible.length);
    expect(root.find((e) => e.name === 'z-lzvn-inline')?.attributes).toEqual(['compressed']);
    expect(root.find((e) => e.name === 'big.bin')?.attributes).toBeUndefined();
    expect(await vol.streams!('/a.txt')).toEqual([{ name: 'user.note', size: 12, kind: 'xattr' }]);
    const s = await vol.openStream!('/a.txt', 'user.note');
    const b = new Uint8Array(s.size);
    await s.read(b, 0);
    expect(new TextDecoder().decode(b)).toBe('an attribute');
    expect(await vol.streams!('/z-zlib-fork')).toEqual([]);
  });

  // 7-Zip reads a hole (an extent at block 0) as the container's first blocks, so it cannot judge these.
  it('sparse files report their holes as zero extents', async () => {
    const vol = await apfsFilesystem.mount(dev());
    const f = await vol.openFile('/sparse.img');
    const ext = await collectExtents(f);
    expect(ext.filter((e) => e.kind === 'zero').reduce((s, e) => s + e.length, 0)).toBe((1 << 20) - 3 * 4096);
    const b = new Uint8Array(f.size);
    await f.read(b, 0);
    expect(Buffer.from(b).equals(Buffer.from(sparse))).toBe(true);
  });

  it('LZFSE inline and in the resource fork (7-Zip reads neither)', async () => {
    const vol = await apfsFilesystem.mount(new MemoryDevice(buildApfs([{ name: 'L', entries: [
      { path: '/inline', type: 'file', decmpfs: decmpfs(text('lzfse inline'), 'lzfse-inline') },
      { path: '/fork', type: 'file', decmpfs: decmpfs(compressible, 'lzfse-fork') },
    ] }]), { readOnly: true }));
    for (const [p, want] of [['/inline', text('lzfse inline')], ['/fork', compressible]] as const) {
      const f = await vol.openFile(p);
      const b = new Uint8Array(f.size);
      await f.read(b, 0);
      expect(Buffer.from(b).equals(Buffer.from(want)), p).toBe(true);
    }
  });
});
