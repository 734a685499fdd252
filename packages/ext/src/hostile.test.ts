/** Damaged and hostile structures planted in real mke2fs images: typed errors naming them, no hangs. */
import { it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync, rmSync } from 'node:fs';
import { CorruptImageError, MemoryDevice, collectExtents, walk } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { tempDir, makeSource, mkfs, inodeOffset, firstBlock, pseudoRandom, sha256 } from './test/fixtures.js';
import { ExtVolume } from './volume.js';
import { extFilesystem } from './volume.js';

let dir: string;
let ext4: Uint8Array; // ext4, 1 KiB blocks, no metadata_csum: structure attacks are not caught by checksums first
let ext4csum: Uint8Array;
let ext2: Uint8Array;
const at: Record<string, number> = {};

beforeAll(() => {
  dir = tempDir('ext-hostile');
  const src = join(dir, 'src');
  makeSource(src, { big: false });
  const img = (name: string, args: string[]) => {
    const p = join(dir, name);
    mkfs(p, src, args, '12M');
    return p;
  };
  const a = img('ext4.img', ['-t', 'ext4', '-b', '1024', '-O', '^metadata_csum']);
  const b = img('csum.img', ['-t', 'ext4', '-b', '1024']);
  const c = img('ext2.img', ['-t', 'ext2', '-b', '1024']);
  ext4 = new Uint8Array(readFileSync(a));
  ext4csum = new Uint8Array(readFileSync(b));
  ext2 = new Uint8Array(readFileSync(c));
  at.frag = inodeOffset(a, '/fragments', 1024);
  at.fragLeaf = leafOf(ext4, at.frag);
  at.csumFragLeaf = leafOf(ext4csum, inodeOffset(b, '/fragments', 1024));
  at.random2 = inodeOffset(c, '/random.bin', 1024);
  at.rootDir = firstBlock(a, '/') * 1024;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Byte offset of the first leaf block under an inode's depth-1 extent root. */
function leafOf(img: Uint8Array, inodeAt: number): number {
  const v = new DataView(img.buffer, img.byteOffset + inodeAt + 0x28, 60);
  if (v.getUint16(6, true) !== 1) throw new Error('expected a depth-1 extent tree');
  return v.getUint32(16, true) * 1024;
}

const u16 = (n: number) => new Uint8Array([n & 0xff, n >> 8]);
const u32 = (n: number) => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);

async function readAll(img: Uint8Array, path: string, patches: [number, Uint8Array][]): Promise<Uint8Array> {
  const b = img.slice();
  for (const [off, bytes] of patches) b.set(bytes, off);
  const vol = await ExtVolume.mount(new MemoryDevice(b, { readOnly: true }));
  const dev = await vol.openFile(path);
  await collectExtents(dev);
  const out = new Uint8Array(dev.size);
  await dev.read(out, 0);
  return out;
}

describeWithTools(['mke2fs', 'debugfs'], 'ext hostile structures', () => {
  it('the unpatched files read as the source wrote them (depth-1 extent tree, double-indirect block map)', async () => {
    const frag = await readAll(ext4, '/fragments', []);
    expect(sha256(frag.subarray(15 * 65536, 15 * 65536 + 4096))).toBe(sha256(pseudoRandom(4096, 115)));
    expect(sha256(await readAll(ext2, '/random.bin', []))).toBe(sha256(pseudoRandom(300_000)));
  });

  const cases: [string, () => [Uint8Array, string, [number, Uint8Array][]], RegExp][] = [
    ['extent depth bomb (root depth 6)', () => [ext4, '/fragments', [[at.frag! + 0x28 + 6, u16(6)]]], /depth ≤ 5/],
    ['extent depth that does not descend by one', () => [ext4, '/fragments', [[at.frag! + 0x28 + 6, u16(2)]]], /node at offset \d+: expected depth 1, found 0/],
    ['extent leaf listed twice (a loop or a shared subtree)', () => [ext4, '/fragments', [[at.frag! + 0x28 + 2, u16(2)], [at.frag! + 0x28 + 24, u32(900)], [at.frag! + 0x28 + 28, readFileSync(join(dir, 'ext4.img')).subarray(at.frag! + 0x28 + 16, at.frag! + 0x28 + 20)], [at.frag! + 0x28 + 32, u16(0)]]], /each tree block once/],
    ['extent index past the filesystem', () => [ext4, '/fragments', [[at.frag! + 0x28 + 16, u32(0xfffffff0)]]], /a block inside the filesystem/],
    ['huge extent count', () => [ext4, '/fragments', [[at.frag! + 0x28 + 2, u16(0xffff)]]], /entries ≤ max ≤ 4/],
    ['extent past the end of the filesystem', () => [ext4, '/fragments', [[at.fragLeaf! + 12 + 8, u32(12 * 1024 - 2)]]], /blocks inside the filesystem/],
    ['extents out of order', () => [ext4, '/fragments', [[at.fragLeaf! + 24, u32(0)]]], /increasing logical order/],
    ['bad extent block magic', () => [ext4, '/fragments', [[at.fragLeaf!, u16(0x1234)]]], /magic 0xf30a/],
    ['extent block CRC32C (metadata_csum)', () => [ext4csum, '/fragments', [[at.csumFragLeaf! + 20, u32(0x01020304)]]], /ext extent block checksum/],
    ['double-indirect block pointing at itself', () => {
      const dbl = new DataView(ext2.buffer, ext2.byteOffset + at.random2! + 0x28 + 13 * 4, 4).getUint32(0, true);
      return [ext2, '/random.bin', [[dbl * 1024, u32(dbl)]]];
    }, /each indirect block once/],
    ['indirect pointer past the filesystem', () => [ext2, '/random.bin', [[at.random2! + 0x28 + 12 * 4, u32(0x7fffffff)]]], /a block inside the filesystem/],
  ];
  for (const [title, make, message] of cases) {
    it(`${title}: CorruptImageError`, async () => {
      const [img, path, patches] = make();
      const err = await readAll(img, path, patches).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptImageError);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('a directory block with a record length past the block: readdir throws, naming the directory (walk can report it)', async () => {
    const b = ext4.slice();
    b.set(u16(2000), at.rootDir! + 4);
    const vol = await ExtVolume.mount(new MemoryDevice(b, { readOnly: true }));
    await expect(vol.readdir('/')).rejects.toThrow(/ext directory \(inode 2\) dirent at offset \d+: expected a record length/);
    await expect((async () => { for await (const _ of walk(vol)) void _; })()).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('a directory entry naming an ancestor (a loop): readdir throws instead of walking forever', async () => {
    const vol0 = await ExtVolume.mount(new MemoryDevice(ext4.slice(), { readOnly: true }));
    const subIno = (await vol0.stat('/sub/deeper')).inode!;
    const deeper = (await vol0.runs(await vol0.inode(subIno)))[0]!.physical * 1024;
    // the first real entry after '.' and '..' of /sub/deeper now names the root directory
    const b = ext4.slice();
    const v = new DataView(b.buffer);
    let p = deeper;
    p += v.getUint16(p + 4, true);
    p += v.getUint16(p + 4, true);
    v.setUint32(p, 2, true);
    const vol = await ExtVolume.mount(new MemoryDevice(b, { readOnly: true }));
    await expect(vol.readdir('/sub/deeper')).rejects.toThrow(/naming the directory itself or an ancestor/);
  });

  it('probe: an ext image scores, zeros and a cut superblock do not throw', async () => {
    expect(await extFilesystem.probe(new MemoryDevice(ext4))).toBeGreaterThan(50);
    expect(await extFilesystem.probe(new MemoryDevice(new Uint8Array(4096)))).toBe(0);
    expect(await extFilesystem.probe(new MemoryDevice(ext4.slice(0, 1500)))).toBe(0);
    await expect(ExtVolume.mount(new MemoryDevice(ext4.slice(0, 1500)))).rejects.toBeInstanceOf(CorruptImageError);
  });
});
