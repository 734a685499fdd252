/** ext2/3/4 images made by mke2fs -d, read by the diskit CLI and compared with the source tree, 7-Zip and debugfs. */
import { it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { readFileSync, rmSync, lstatSync, readlinkSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { describeWithTools } from '../../../test/tools.js';
import {
  tempDir, makeSource, sourceListing, diskitListing, sevenZipList, modeString, fileHashes, mkfs, debugfsStat, isRoot, BIG_SPARSE, pseudoRandom, sha256,
} from './test/fixtures.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

let dir: string;
let src: string;
beforeAll(() => {
  dir = tempDir('ext-tools');
  src = join(dir, 'src');
  makeSource(src);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VARIANTS: [string, string[], boolean][] = [
  ['ext2, 1 KiB blocks (block maps up to triple indirect)', ['-t', 'ext2', '-b', '1024'], true],
  ['ext3, 4 KiB blocks', ['-t', 'ext3', '-b', '4096'], true],
  ['ext4, 1 KiB blocks, 64bit, metadata_csum', ['-t', 'ext4', '-b', '1024', '-O', '64bit,metadata_csum'], true],
  ['ext4, 4 KiB blocks, 128-byte inodes, uninit_bg (gdt_csum CRC16) without metadata_csum or 64bit', ['-t', 'ext4', '-b', '4096', '-I', '128', '-O', '^metadata_csum,^64bit,uninit_bg'], true],
  ['ext4, 1 KiB blocks, meta_bg (descriptors spread over the groups)', ['-t', 'ext4', '-b', '1024', '-O', 'meta_bg,^resize_inode'], true],
  ['ext4, 2 KiB blocks, 512-byte inodes, sparse_super2 without flex_bg', ['-t', 'ext4', '-b', '2048', '-I', '512', '-O', '^flex_bg,sparse_super2'], true],
  ['ext4, casefold (utf8)', ['-t', 'ext4', '-O', 'casefold'], true],
  // 7-Zip refuses inline_data and bigalloc images: the source tree and debugfs judge them.
  ['ext4, inline_data', ['-t', 'ext4', '-b', '4096', '-O', 'inline_data'], false],
  ['ext4, bigalloc (16 KiB clusters of 1 KiB blocks)', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc', '-C', '16384'], false],
];

function listing(img: string) {
  const r = diskit('ls', '-R', '-l', '--json', img);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describeWithTools(['mke2fs', '7z', 'debugfs'], 'ext images made by mke2fs -d', () => {
  for (const [title, args, sevenZip] of VARIANTS) {
    it(`${title}: ls -R --json equals the source tree${sevenZip ? ' and 7z l -slt' : ''}; extract is byte-identical with hard links, modes and times`, () => {
      const img = join(dir, `${args.join('')}.img`.replace(/[^\w.]/g, '_'));
      mkfs(img, src, args);
      if (args.includes('inline_data')) {
        // the small files and directories really are inline (debugfs: EXT4_INLINE_DATA_FL)
        for (const p of ['/tiny', '/hello.txt', '/sub/deeper/deepest']) expect(debugfsStat(img, p).Flags).toBe('0x10000000');
      }
      const json = listing(img);
      const chk = diskit('check', img);
      expect(chk.stdout + chk.stderr).toBe('No errors were found on the image.\n');
      expect(chk.status).toBe(0);
      const ours = diskitListing(json).filter((e) => !e.path.startsWith('/lost+found'));
      expect(ours).toEqual(sourceListing(src));
      if (sevenZip) {
        const theirs = sevenZipList(img);
        const mine = [...json].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map((e) => ({
          path: e.path, folder: e.type === 'directory', size: e.type === 'directory' ? undefined : e.size, mode: modeString(e.mode),
          modified: e.mtime.replace('T', ' ').slice(0, 19), inode: e.inode, links: e.nlink, target: e.target ?? '', uid: e.uid, gid: e.gid,
        }));
        // 7-Zip calls a symlink to a directory a folder: symlinks are judged by mode and target.
        const norm = <T extends { mode: string; folder: boolean; size?: number }>(t: T) => (t.mode.startsWith('l') ? { ...t, folder: false, size: undefined } : t);
        expect(mine.map(norm)).toEqual(theirs.map((t) => norm({ ...t, modified: t.modified.slice(0, 19), size: t.folder ? undefined : t.size })));
      }
      // ls -l: mode, links, owner and group beside the size
      expect(diskit('ls', '-l', img).stdout).toMatch(/^-rw-r--r-- +3 +(1234|0) +(5678|0) +11 2024-03-04 05:06:07 hello\.txt$/m);
      const out = join(dir, `out-${img.split('/').pop()}`);
      const x = diskit('extract', img, '/', out);
      // The FIFO and the device node are skipped with a note (exit 1 says something was left out).
      expect(x.status, x.stderr).toBe(isRoot ? 1 : 0);
      if (isRoot) expect(x.stderr).toMatch(/skipping FIFO \/a-fifo.*\n.*skipping character device \/null-dev/s);
      expect(fileHashes(join(out, ''))).toEqual(new Map([...fileHashes(src)].map(([p, h]) => [p, h])));
      // hard links are links again; symlinks are links; modes and mtimes kept
      const ino = (p: string) => lstatSync(join(out, p)).ino;
      expect(ino('sub/hello-hardlink')).toBe(ino('hello.txt'));
      expect(ino('sub/deeper/hello-again')).toBe(ino('hello.txt'));
      expect(lstatSync(join(out, 'hello.txt')).nlink).toBe(3);
      expect(readlinkSync(join(out, 'slow-link'))).toBe(readlinkSync(join(src, 'slow-link')));
      expect(lstatSync(join(out, 'exec.sh')).mode & 0o777).toBe(0o755);
      expect(lstatSync(join(out, 'private')).mode & 0o777).toBe(0o600);
      expect(lstatSync(join(out, 'random.bin')).mtime.toISOString()).toBe('2031-01-02T03:04:05.000Z');
      // the sparse files: same size, their data where the source has it, holes left as holes
      const big = statSync(join(out, 'sparse-5g'));
      expect(big.size).toBe(BIG_SPARSE);
      expect(big.blocks * 512).toBeLessThan(1 << 20);
      const piece = (p: string, off: number, n: number) => {
        const fd = openSync(p, 'r');
        const b = Buffer.alloc(n);
        readSync(fd, b, 0, n, off);
        closeSync(fd);
        return sha256(b);
      };
      expect(piece(join(out, 'sparse-5g'), 0, 10_000)).toBe(sha256(pseudoRandom(10_000, 9)));
      expect(piece(join(out, 'sparse-5g'), BIG_SPARSE - 7000, 7000)).toBe(sha256(pseudoRandom(7000, 10)));
      expect(sha256(readFileSync(join(out, 'sparse-70m')))).toBe(sha256(readFileSync(join(src, 'sparse-70m'))));
      rmSync(out, { recursive: true, force: true });
      rmSync(img);
    });
  }
});
