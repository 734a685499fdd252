/** htree, times past 2038, containers, backup superblocks and planted damage, judged by debugfs, 7-Zip, e2fsck. */
import { it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { mkdirSync, writeFileSync, rmSync, copyFileSync, readFileSync } from 'node:fs';
import { collectExtents } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { ExtVolume } from './volume.js';
import { tempDir, makeSource, mkfs, sevenZipList, debugfsStat, debugfsWrite, inodeOffset, firstBlock, flipByte, patch, sha256 } from './test/fixtures.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
const lsJson = (...args: string[]) => {
  const r = diskit('ls', '--json', ...args);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { path: string; type: string; size: number; mtime: string; inode: number }[];
};
const e2fsckClean = (img: string) => spawnSync('e2fsck', ['-fn', img], { stdio: 'ignore' }).status === 0;

let dir: string;
let src: string;
let base: string;
beforeAll(() => {
  dir = tempDir('ext-special');
  src = join(dir, 'src');
  makeSource(src, { big: false });
  base = join(dir, 'base.img');
  mkfs(base, src, ['-t', 'ext4', '-b', '1024'], '12M');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fresh = (name: string) => {
  const p = join(dir, name);
  copyFileSync(base, p);
  return p;
};

describeWithTools(['mke2fs', 'e2fsck', 'debugfs', '7z', 'sfdisk', 'sgdisk', 'qemu-img', 'dumpe2fs'], 'ext: htree, times, containers, damage', () => {
  it('a directory of 10,000 entries indexed as an htree (debugfs htree_dump) lists every name, dx checksums checked', () => {
    const hsrc = join(dir, 'hsrc');
    mkdirSync(join(hsrc, 'many'), { recursive: true });
    const names = Array.from({ length: 10_000 }, (_, i) => `f${String(i).padStart(5, '0')}`);
    for (const n of names) writeFileSync(join(hsrc, 'many', n), '');
    const img = join(dir, 'htree.img');
    mkfs(img, hsrc, ['-t', 'ext4', '-b', '4096', '-N', '10100'], '16M');
    run('e2fsck', ['-fyD', img]); // e2fsck -D builds the index mke2fs -d leaves out
    expect(run('debugfs', ['-R', 'htree_dump /many', img])).toMatch(/Root node dump:[\s\S]*Number of entries \(count\): \d+/);
    const ours = lsJson(img, '/many').map((e) => e.path.slice('/many/'.length)).sort();
    expect(ours).toEqual(names);
    expect(sevenZipList(img).filter((e) => e.path.startsWith('/many/')).length).toBe(10_000);
    // one damaged leaf block: its names are missing, the directory says so, the other blocks are listed
    const leaf = Number(run('debugfs', ['-R', 'bmap /many 7', img]).trim());
    flipByte(img, leaf * 4096 + 100);
    const r = diskit('ls', '--json', img, '/many');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ext directory \(inode \d+\) block checksum at offset \d+/);
    const partial = (JSON.parse(r.stdout) as { path: string }[]).length;
    expect(partial).toBeGreaterThan(9_500);
    expect(partial).toBeLessThan(10_000);
  });

  it('uninitialised extents (debugfs fallocate) read as zeros and are reported as zero extents; a depth-2 extent tree reads as its source', async () => {
    const usrc = join(dir, 'usrc');
    mkdirSync(usrc, { recursive: true });
    writeFileSync(join(usrc, 'zeros'), new Uint8Array(40960)); // all zeros: mke2fs -d leaves it a hole
    const frag = new Uint8Array(400 * 8192);
    for (let i = 0; i < 400; i++) frag.fill((i % 251) + 1, i * 8192, i * 8192 + 1024);
    writeFileSync(join(usrc, 'frag400'), frag);
    const img = join(dir, 'uninit.img');
    mkfs(img, usrc, ['-t', 'ext4', '-b', '1024'], '8M');
    debugfsWrite(img, 'fallocate /zeros 0 39');
    expect(run('debugfs', ['-R', 'ex /zeros', img])).toMatch(/0 - +39 +\d+ - +\d+ +40 Uninit/);
    expect(run('debugfs', ['-R', 'ex /frag400', img])).toMatch(/^ 0\/ 2 /m); // root of a depth-2 tree
    const vol = await ExtVolume.mount(await FileDevice.open(img));
    expect(await collectExtents(await vol.openFile('/zeros'))).toEqual([{ offset: 0, length: 40960, kind: 'zero' }]);
    const out = join(dir, 'uninit-out');
    const r = diskit('extract', img, '/', out);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(readFileSync(join(out, 'zeros')))).toBe(sha256(new Uint8Array(40960)));
    expect(sha256(readFileSync(join(out, 'frag400')))).toBe(sha256(frag));
    const seven = join(dir, 'uninit-7z');
    run('7z', ['x', '-y', `-o${seven}`, img, 'frag400', 'zeros']);
    expect(sha256(readFileSync(join(seven, 'frag400')))).toBe(sha256(frag));
    expect(sha256(readFileSync(join(seven, 'zeros')))).toBe(sha256(new Uint8Array(40960)));
  });

  it('extended attributes (set by debugfs ea_set) are streams with the values debugfs ea_list shows; a bad xattr-block CRC32C is flagged', async () => {
    const xsrc = join(dir, 'xsrc');
    mkdirSync(xsrc, { recursive: true });
    writeFileSync(join(xsrc, 'f'), 'x\n');
    const img = join(dir, 'xattr.img');
    mkfs(img, xsrc, ['-t', 'ext4', '-b', '4096'], '8M');
    // debugfs, not setfattr: the host's /tmp need not keep user xattrs
    writeFileSync(join(dir, 'bigval'), 'B'.repeat(3000));
    debugfsWrite(img, 'ea_set /f user.comment hello_xattr', `ea_set -f ${join(dir, 'bigval')} /f user.big`); // 3000 bytes: the xattr block
    expect(run('debugfs', ['-R', 'ea_list /f', img])).toMatch(/user\.comment \(11\) = "hello_xattr"[\s\S]*user\.big \(3000\)/);
    const vol = await ExtVolume.mount(await FileDevice.open(img));
    const streams = await vol.streams('/f');
    expect(streams.filter((s) => s.name.startsWith('user.')).sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual([
      { name: 'user.big', size: 3000, kind: 'xattr' },
      { name: 'user.comment', size: 11, kind: 'xattr' },
    ]);
    const big = await vol.openStream('/f', 'user.big');
    const bytes = new Uint8Array(big.size);
    await big.read(bytes, 0);
    expect(new TextDecoder().decode(bytes)).toBe('B'.repeat(3000));
    const acl = Number(/File ACL: (\d+)/.exec(run('debugfs', ['-R', 'stat /f', img]))![1]);
    expect(acl).toBeGreaterThan(0);
    flipByte(img, acl * 4096 + 200);
    expect(e2fsckClean(img)).toBe(false);
    const c = diskit('check', img);
    expect(c.status).toBe(1);
    expect(c.stdout).toMatch(/ext xattr block checksum \(inode \d+\)/);
  });

  it('a directory chain 1,000 deep lists whole (each directory resolved from its parent in one step)', () => {
    const dsrc = join(dir, 'deep');
    let p = dsrc;
    for (let i = 0; i < 1000; i++) p = join(p, 'd');
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'leaf'), 'x');
    const img = join(dir, 'deep.img');
    mkfs(img, dsrc, ['-t', 'ext4', '-b', '1024', '-N', '2000'], '8M');
    const paths = lsJson('-R', img).map((e) => e.path).filter((x) => !x.startsWith('/lost+found'));
    expect(paths.length).toBe(1001);
    expect(paths[paths.length - 1]).toBe('/d'.repeat(1000) + '/leaf');
  });

  it('nanoseconds and times past 2038 (the extra epoch bits) read as debugfs and 7-Zip read them', () => {
    const img = fresh('times.img');
    debugfsWrite(img, 'sif /hello.txt mtime 21000102030405', 'sif /hello.txt mtime_extra 0x1d6f3455', 'sif /tiny mtime 0x7fffffff', 'sif /tiny mtime_extra 0xee6b27fc');
    expect(debugfsStat(img, '/hello.txt').mtime).toBe('0xf487d3a5:1d6f3455');
    // debugfs's raw seconds:extra, decoded as the kernel does, to the millisecond a Date keeps
    const fromDebugfs = (p: string) => {
      const [sec, extra] = debugfsStat(img, p).mtime!.split(':').map((x) => parseInt(x.replace(/^0x/, ''), 16)) as [number, number];
      return new Date(((sec | 0) + (extra & 3) * 2 ** 32) * 1000 + Math.floor((extra >>> 2) / 1e6)).toISOString();
    };
    const seven = sevenZipList(img);
    for (const [p, want] of [['/hello.txt', '2100-01-02T03:04:05.123Z'], ['/tiny', '2038-01-19T03:14:07.999Z']] as const) {
      expect(fromDebugfs(p)).toBe(want);
      expect(lsJson(img, p)[0]!.mtime).toBe(want);
      // 7-Zip prints nanoseconds (newer versions) or whole seconds: the part it prints agrees
      const theirs = seven.find((e) => e.path === p)!.modified;
      expect(want.replace('T', ' ').replace('Z', '')).toContain(theirs.slice(0, 23));
    }
    expect(seven.find((e) => e.path === '/hello.txt')!.modified).toMatch(/^2100-01-02 03:04:05(\.123456789)?$/);
  });

  it('inside raw MBR and GPT disks, a VHD and a VHDX (qemu-img) and a DMG (diskit convert), the listing and the bytes are the same as the bare filesystem', () => {
    const bare = lsJson('-R', base);
    const fsBytes = readFileSync(base);
    const mbr = join(dir, 'mbr.img');
    run('truncate', ['-s', '14M', mbr]);
    run('sfdisk', ['-q', mbr], { input: 'label: dos\nstart=2048, type=83\n' });
    patch(mbr, 2048 * 512, fsBytes);
    const gpt = join(dir, 'gpt.img');
    run('truncate', ['-s', '14M', gpt]);
    run('sgdisk', ['-n1:2048:+12M', '-t1:8300', gpt]);
    patch(gpt, 2048 * 512, fsBytes);
    const vhdx = join(dir, 'disk.vhdx');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', gpt, vhdx]);
    const vhd = join(dir, 'disk.vhd');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', mbr, vhd]);
    const dmg = join(dir, 'disk.dmg');
    expect(diskit('convert', '-O', 'dmg', gpt, dmg).status).toBe(0);
    const want = sha256(readFileSync(join(src, 'random.bin')));
    for (const disk of [mbr, gpt, vhd, vhdx, dmg]) {
      expect(lsJson('-R', disk), disk).toEqual(bare);
      const out = join(dir, `x-${disk.split('/').pop()}`);
      const r = diskit('extract', disk, '/random.bin', out);
      expect(r.status, r.stderr).toBe(0);
      expect(sha256(readFileSync(join(out, 'random.bin')))).toBe(want);
    }
  });

  it('diskit info gives the label, UUID, sizes, counts and features dumpe2fs -h gives', () => {
    const img = join(dir, 'label.img');
    mkfs(img, src, ['-t', 'ext4', '-b', '4096', '-L', 'my label', '-U', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', '-O', '^has_journal'], '16M');
    const h: Record<string, string> = {};
    for (const line of run('dumpe2fs', ['-h', img]).split('\n')) {
      const m = /^([^:]+):\s+(.*)$/.exec(line);
      if (m) h[m[1]!.trim()] = m[2]!.trim();
    }
    const fs = JSON.parse(diskit('info', '--json', img).stdout).filesystem;
    expect({ label: fs.label, uuid: fs.uuid, blockSize: fs.blockSize, blocks: fs.blocks, freeBlocks: fs.freeBlocks, inodes: fs.inodes, freeInodes: fs.freeInodes, inodeSize: fs.inodeSize, features: fs.features.join(' '), revision: fs.revision.split('.')[0] })
      .toEqual({ label: h['Filesystem volume name'], uuid: h['Filesystem UUID'], blockSize: Number(h['Block size']), blocks: Number(h['Block count']), freeBlocks: Number(h['Free blocks']), inodes: Number(h['Inode count']), freeInodes: Number(h['Free inodes']), inodeSize: Number(h['Inode size']), features: h['Filesystem features'], revision: h['Filesystem revision #']!.split(' ')[0] });
    expect(fs.label).toBe('my label');
    expect(fs.journal).toBe('none');
    expect(fs.usedBytes + fs.freeBytes).toBe(fs.size);
  });

  it('diskit dump lists the superblock and every group descriptor as dumpe2fs shows them', () => {
    const r = diskit('dump', '--json', base);
    expect(r.status, r.stderr).toBe(0);
    const fs = JSON.parse(r.stdout).filesystem as { type: string; structures: { name: string; fields: Record<string, number> }[] };
    expect(fs.type).toBe('ext');
    const ours = fs.structures.filter((s) => s.name.startsWith('group descriptor')).map((s) => s.fields);
    const theirs = [...run('dumpe2fs', [base]).matchAll(/^Group (\d+): .*csum (0x[0-9a-f]+)[\s\S]*?Block bitmap at (\d+) \([^)]*\), csum (0x[0-9a-f]+)[\s\S]*?Inode bitmap at (\d+) \([^)]*\), csum (0x[0-9a-f]+)[\s\S]*?Inode table at (\d+)[\s\S]*?(\d+) free blocks, (\d+) free inodes, (\d+) directories(?:, (\d+) unused inodes)?/gm)]
      .map((m) => ({
        checksum: Number(m[2]), blockBitmap: Number(m[3]), blockBitmapCsum: Number(m[4]), inodeBitmap: Number(m[5]), inodeBitmapCsum: Number(m[6]),
        inodeTable: Number(m[7]), freeBlocks: Number(m[8]), freeInodes: Number(m[9]), usedDirs: Number(m[10]), itableUnused: Number(m[11] ?? 0),
      }));
    expect(theirs.length).toBeGreaterThan(1);
    expect(ours.map(({ flags: _f, ...rest }) => rest)).toEqual(theirs);
  });

  it('a damaged primary superblock: the group-1 backup is used and info says so (e2fsck agrees the primary is bad)', () => {
    const img = fresh('backup.img');
    patch(img, 1024 + 0x38, new Uint8Array([0, 0]));
    expect(e2fsckClean(img)).toBe(false);
    expect(lsJson('-R', img)).toEqual(lsJson('-R', base));
    const info = JSON.parse(diskit('info', '--json', img).stdout);
    expect(info.filesystem.superblock).toMatch(/^backup at byte 8389632 \(primary: ext superblock magic/);
    // a flipped bit in the primary's last-mount time breaks its CRC32C: the backup again
    const crc = fresh('sbcrc.img');
    flipByte(crc, 1024 + 0x2c);
    expect(e2fsckClean(crc)).toBe(false);
    expect(JSON.parse(diskit('info', '--json', crc).stdout).filesystem.superblock).toMatch(/primary: ext superblock checksum/);
    expect(lsJson('-R', crc)).toEqual(lsJson('-R', base));
  });

  it('planted bad CRC32Cs (inode, directory block, group descriptor, block bitmap) are named, never listed as if fine', () => {
    const cases: [string, (img: string) => void, RegExp][] = [
      ['inode', (img) => flipByte(img, inodeOffset(img, '/hello.txt', 1024) + 0x10), /ext inode \d+ checksum/],
      ['dir block', (img) => flipByte(img, firstBlock(img, '/sub') * 1024 + 30), /ext directory \(inode \d+\) block checksum/],
      ['group descriptor', (img) => flipByte(img, 2 * 1024 + 0x10), /ext group descriptor 0 checksum/],
      ['block bitmap', (img) => flipByte(img, Number(/Block bitmap at (\d+)/.exec(run('dumpe2fs', [img]))![1]) * 1024 + 500, 0x80), /ext block bitmap checksum \(group 0\)/],
    ];
    for (const [what, damage, message] of cases) {
      const img = fresh(`crc-${what.replace(' ', '-')}.img`);
      damage(img);
      expect(e2fsckClean(img), what).toBe(false);
      const r = diskit('ls', '-R', img);
      if (what === 'block bitmap') {
        // reading files never needs the allocation bitmaps: only check reads (and flags) them
        expect(r.status, what).toBe(0);
      } else {
        expect(r.status, what).toBe(1);
        expect(r.stderr, what).toMatch(message);
      }
      // a damaged directory is named and skipped; the rest is still listed (the walker rule)
      if (what === 'dir block') expect(r.stdout).toMatch(/^\/random\.bin$/m);
      const c = diskit('check', img);
      expect(c.status, what).toBe(1);
      expect(c.stdout, what).toMatch(message);
    }
  });

  it('a journal that needs recovery is reported by info and not replayed; unknown incompat features and encrypted inodes are refused by name', () => {
    const img = fresh('recover.img');
    debugfsWrite(img, 'feature needs_recovery');
    const info = JSON.parse(diskit('info', '--json', img).stdout);
    expect(info.filesystem.journal).toMatch(/needs recovery \(not replayed/);
    expect(lsJson('-R', img)).toEqual(lsJson('-R', base));
    const dd = fresh('dirdata.img');
    debugfsWrite(dd, 'ssv feature_incompat 0x10c2');
    const r = diskit('ls', dd);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/incompatible feature\(s\) dirdata not supported/);
    const enc = fresh('encrypt.img');
    debugfsWrite(enc, 'feature encrypt', 'sif /hello.txt flags 0x80800');
    const x = diskit('extract', enc, '/hello.txt', join(dir, 'enc-out'));
    expect(x.status).toBe(1);
    expect(x.stderr).toMatch(/inode \d+ is encrypted/);
  });
});
