import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CorruptImageError, DiskitError, MemoryDevice, PartialDirectoryError, TruncatedImageError, walk } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { FatVolume, fatFilesystem, exfatFilesystem, lfnChecksum } from './index.js';
import { tempDir, makeTree, makeFat, sevenZipList, volumeList, sh, readAll, sha256, bytes } from './test/helpers.js';

let dir: string;
let base: Uint8Array;

const mount = (b: Uint8Array) => FatVolume.mount(new MemoryDevice(b, { readOnly: true }));
const u16 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint16(at, v, true);
const u32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, true);

/** Set FAT16 entry `c` to `v` in every FAT copy. */
function setFat(vol: FatVolume, b: Uint8Array, c: number, v: number): void {
  for (const f of vol.fats) u16(b, f.offset + c * 2, v);
}

async function fsckFat(b: Uint8Array): Promise<{ status: number | null; out: string }> {
  const p = join(dir, 'fsck.img');
  writeFileSync(p, b);
  const r = spawnSync('fsck.fat', ['-n', p], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

describeWithTools(['mkfs.fat', 'mcopy', 'mattrib', 'fsck.fat', '7z'], 'FAT: damage is found, typed and named', () => {
  beforeAll(() => {
    dir = tempDir('hostile');
    const src = join(dir, 'src');
    makeTree(src, 2048);
    writeFileSync(join(src, 'multi.bin'), bytes(5 * 2048, 9));
    const img = join(dir, 'base.img');
    makeFat(img, 16 << 10, 16, src, ['-s', '4']);
    sh('mattrib', ['-i', img, '+r', '+h', '+s', '::/hello.txt']);
    base = new Uint8Array(readFileSync(img));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the clean image: check finds nothing, as fsck.fat -n; attributes and times as 7-Zip shows them', async () => {
    const vol = await mount(base.slice());
    expect((await vol.check()).problems).toEqual([]);
    expect((await fsckFat(base)).status).toBe(0);
    const hello = await vol.stat('/hello.txt');
    expect(hello.attributes).toEqual(['readonly', 'hidden', 'system', 'archive']);
    const seven = sh('7z', ['l', '-slt', join(dir, 'base.img')]).split('\n\n').find((b) => b.includes('Path = hello.txt'))!;
    expect(seven).toMatch(/Attributes = RHSA/);
    const modified = /Modified = (\S+ \S+)/.exec(seven)![1]!;
    expect(hello.mtime!.toISOString().replace('T', ' ').slice(0, 19)).toBe(modified);
    const created = /Created = (\S+ \S+)/.exec(seven)![1]!;
    expect(hello.birthtime!.toISOString().replace('T', ' ').slice(0, 22)).toBe(created);
    // mtools stores all-lower-case 8.3 names with the NT case flags, not a long name
    const lower = (await vol.node('/lower.txt'))!;
    expect(lower.longName).toBeUndefined();
    expect(lower.ntFlags & 0x18).toBe(0x18);
  });

  it('a cross-link (two files sharing a cluster) is an error in check, as in fsck.fat', async () => {
    const b = base.slice();
    const vol = await mount(b);
    const a = (await vol.node('/multi.bin'))!;
    const other = (await vol.node('/two.dots.in.name.tar.gz'))!;
    u16(b, other.entryOffset + 26, a.firstCluster);
    const r = await (await mount(b)).check();
    expect(r.problems.some((p) => p.severity === 'error' && /cross-link: cluster \d+ of \/two\.dots/.test(p.message))).toBe(true);
    expect((await fsckFat(b)).status).not.toBe(0);
  });

  it('a loop in a chain: openFile and check say so; a loop past the size is still found by check', async () => {
    const b = base.slice();
    const vol = await mount(b);
    const n = (await vol.node('/multi.bin'))!;
    expect((await vol.fileChain('/multi.bin', n))!.runs).toEqual([{ first: n.firstCluster, count: 5 }]);
    const inside = b.slice();
    setFat(vol, inside, n.firstCluster + 2, n.firstCluster); // 1 → 2 → 3 → 1: a 5-cluster file visits cluster 1 twice
    await expect((await mount(inside)).openFile('/multi.bin')).rejects.toThrow(/loop through cluster/);
    expect((await (await mount(inside)).check()).problems.some((p) => p.severity === 'error' && /multi\.bin.*loop/.test(p.message))).toBe(true);
    const past = b.slice();
    setFat(vol, past, n.firstCluster + 4, n.firstCluster); // the last cluster links back to the first
    expect(sha256(await readAll(await (await mount(past)).openFile('/multi.bin')))).toBe(sha256(bytes(5 * 2048, 9)));
    expect((await (await mount(past)).check()).problems.some((p) => p.severity === 'error' && /multi\.bin.*loop/.test(p.message))).toBe(true);
    expect((await fsckFat(inside)).status).not.toBe(0);
    expect((await fsckFat(past)).status).not.toBe(0);
  });

  it('a size past the chain is a CorruptImageError on open and an error in check', async () => {
    const b = base.slice();
    const n = (await (await mount(b)).node('/multi.bin'))!;
    u32(b, n.entryOffset + 28, 100_000);
    const vol = await mount(b);
    await expect(vol.openFile('/multi.bin')).rejects.toThrow(/49 clusters for 100000 bytes, found 5/);
    expect((await vol.check()).problems.some((p) => p.severity === 'error' && /multi\.bin/.test(p.message))).toBe(true);
  });

  it('a chain into a free cluster, and FAT copies that disagree', async () => {
    const b = base.slice();
    let vol = await mount(b);
    const n = (await vol.node('/multi.bin'))!;
    setFat(vol, b, n.firstCluster, 0x7000);
    await expect((await mount(b)).openFile('/multi.bin')).rejects.toBeInstanceOf(CorruptImageError);
    const c = base.slice();
    vol = await mount(c);
    u16(c, vol.fats[1]!.offset + n.firstCluster * 2, 0xfff7);
    expect((await (await mount(c)).check()).problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/FAT copy 2 differs from copy 1/));
  });

  it('a directory whose cluster is its parent\'s: readdir of it throws a typed error (no endless walk)', async () => {
    const b = base.slice();
    const vol = await mount(b);
    const deep = (await vol.node('/Deep'))!;
    const a = (await vol.node('/Deep/a'))!;
    u16(b, a.entryOffset + 26, deep.firstCluster);
    const v2 = await mount(b);
    await expect(v2.readdir('/Deep/a')).rejects.toThrow(/directory loop or cross-link/);
    const seen: string[] = [];
    await expect((async () => { for await (const e of walk(v2)) seen.push(e.path); })()).rejects.toBeInstanceOf(DiskitError);
  });

  it('an 8.3 name with "/" is a damaged entry: readdir gives the rest as a partial directory, check reports it', async () => {
    const b = base.slice();
    const n = (await (await mount(b)).node('/README'))!;
    b[n.entryOffset + 2] = 0x2f;
    const vol = await mount(b);
    const err = (await vol.readdir('/').catch((e) => e)) as PartialDirectoryError;
    expect(err).toBeInstanceOf(PartialDirectoryError);
    expect(err.message).toMatch(/8\.3 name without/);
    expect(err.entries.map((e) => e.name)).toContain('hello.txt');
    expect(err.entries.map((e) => e.name)).not.toContain('README');
    const r = await vol.check();
    expect(r.problems.filter((p) => p.severity === 'error').map((p) => p.message)).toEqual([expect.stringMatching(/entry skipped.*RE\/DME/)]);
  });

  it('an LFN run whose checksum does not match falls back to the 8.3 name', async () => {
    const b = base.slice();
    const vol = await mount(b);
    const n = (await vol.node('/MixedCase.Txt'))!;
    expect(b[n.entryOffset - 32 + 13]).toBe(lfnChecksum(b.subarray(n.entryOffset, n.entryOffset + 11)));
    b[n.entryOffset - 32 + 13] ^= 1;
    const names = (await (await mount(b)).readdir('/')).map((e) => e.name);
    expect(names).toContain('MIXEDC~1.TXT');
    expect(names).not.toContain('MixedCase.Txt');
  });

  it('NT case flags lower-case the base name and extension separately', async () => {
    const b = base.slice();
    const n = (await (await mount(b)).node('/UPPER.TXT'))!;
    b[n.entryOffset + 12] = 0x08;
    expect((await (await mount(b)).readdir('/')).map((e) => e.name)).toContain('upper.TXT');
    b[n.entryOffset + 12] = 0x10;
    expect((await (await mount(b)).readdir('/')).map((e) => e.name)).toContain('UPPER.txt');
  });

  it('a truncated image: files past the end are TruncatedImageErrors; a zeroed boot sector is not FAT', async () => {
    const vol = await mount(base.slice(0, 200 << 10));
    let truncated = 0;
    const visit = async (d: string): Promise<void> => {
      const entries = await vol.readdir(d).catch((err) => {
        expect(err).toBeInstanceOf(TruncatedImageError);
        truncated++;
        return [];
      });
      for (const e of entries) {
        if (e.type === 'directory') await visit(e.path);
        else await vol.openFile(e.path).then((f) => readAll(f)).catch((err) => {
          expect(err).toBeInstanceOf(TruncatedImageError);
          truncated++;
        });
      }
    };
    await visit('/');
    expect(truncated).toBeGreaterThan(0);
    const z = base.slice();
    z.fill(0, 0, 512);
    expect(await fatFilesystem.probe(new MemoryDevice(z))).toBe(0);
    await expect(mount(z)).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('a DOS 1.x 160 KiB floppy (no BPB, media byte 0xFE in the FAT) lists as it did with its BPB', async () => {
    const src = join(dir, 'dos1');
    makeTree(src, 512);
    rmSync(join(src, 'many'), { recursive: true });
    rmSync(join(src, 'a rather long file name with spaces and more than 64 characters in it, to need 6 LFN entries.dat'));
    const img = join(dir, 'dos1.img');
    makeFat(img, 160, 12, src, ['-r', '64', '-s', '1', '-f', '2', '-M', '0xfe', '-R', '1', '-g', '1/8']);
    const withBpb = new Uint8Array(readFileSync(img));
    const expected = await volumeList(await mount(withBpb.slice()));
    expect(expected).toEqual(sevenZipList(img));
    const b = withBpb.slice();
    b.fill(0, 3, 62);
    const dev = new MemoryDevice(b, { readOnly: true });
    expect(await fatFilesystem.probe(dev)).toBeGreaterThan(0);
    const vol = await FatVolume.mount(dev);
    expect(vol.layout.dos1).toBe(true);
    expect(await volumeList(vol)).toEqual(expected);
    expect(sha256(await readAll(await vol.openFile('/ONE.BIN')))).toBe(sha256(bytes(512, 1)));
  });
});

describeWithTools(['mkfs.fat', 'mcopy', 'fsck.fat'], 'FAT32: FSInfo and the active FAT', () => {
  let img32: Uint8Array;
  let tmp: string;
  beforeAll(() => {
    tmp = tempDir('fat32');
    const src = join(tmp, 'src');
    makeTree(src, 512);
    const img = join(tmp, 'fat32.img');
    makeFat(img, 33 << 10, 32, src, ['-s', '1']);
    img32 = new Uint8Array(readFileSync(img));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('clean: no problems; FSInfo free count equals the FAT\'s; a stale count is a warning', async () => {
    const vol = await mount(img32.slice());
    expect((await vol.check()).problems).toEqual([]);
    expect(vol.fsInfo!.valid).toBe(true);
    const info = await vol.info();
    expect(info.freeSize).toBe(vol.fsInfo!.freeCount * 512);
    const b = img32.slice();
    u32(b, 512 + 488, vol.fsInfo!.freeCount - 5);
    const r = await (await mount(b)).check();
    expect(r.problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/FSInfo free count/) })]);
  });

  it('ExtFlags: with mirroring off, reading follows the active FAT only', async () => {
    const vol = await mount(img32.slice());
    const n = (await vol.node('/Deep/a/sibling/file.bin'))!;
    const b = img32.slice();
    u32(b, vol.fats[0]!.offset + n.firstCluster * 4, 0); // break the chain in FAT 1 only
    await expect((await mount(b)).openFile('/Deep/a/sibling/file.bin')).rejects.toThrow(/free cluster/);
    u16(b, 40, 0x81); // FAT 2 active, no mirroring
    const v2 = await mount(b);
    expect(v2.layout.activeFat).toBe(1);
    expect(sha256(await readAll(await v2.openFile('/Deep/a/sibling/file.bin')))).toBe(sha256(bytes(5 * 512 + 7, 4)));
    expect((await v2.check()).problems.filter((p) => p.severity === 'error')).toEqual([]);
  });
});

describeWithTools(['mkfs.fat', 'mcopy', '7z', 'fsck.fat'], 'FAT32 BPB on fewer than 65,525 clusters (as mkfs.fat -F 32 makes on 20 MiB)', () => {
  it('is read as FAT32, as fsck.fat and 7-Zip read it; info and check say why it is odd', async () => {
    const tmp = tempDir('small32');
    try {
      const src = join(tmp, 'src');
      makeTree(src, 512);
      const img = join(tmp, 'small32.img');
      // mtools refuses to write such a volume: populate a 33 MiB FAT32, then shrink its total sectors to 20 MiB
      makeFat(img, 33 << 10, 32, src, ['-s', '1']);
      const b = readFileSync(img);
      b.writeUInt32LE(40960, 32);
      b.writeUInt32LE(40960, 6 * 512 + 32); // the backup boot sector too
      b.writeUInt32LE(0xffffffff, 512 + 488); // FSInfo's free count: unknown
      writeFileSync(img, b);
      expect(sh('7z', ['l', '-slt', img])).toMatch(/File System = FAT32/);
      const fsck = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
      expect(fsck.stderr).toMatch(/less than the required minimum of 65525/);
      expect(fsck.status).toBe(0);
      const vol = await mount(new Uint8Array(readFileSync(img)));
      expect(vol.layout.type).toBe('FAT32');
      expect(vol.layout.clusterCount).toBeLessThan(65525);
      expect(await volumeList(vol)).toEqual(sevenZipList(img));
      expect((await vol.info()).warning).toMatch(/FAT32 BPB on \d+ clusters/);
      const r = await vol.check();
      expect(r.problems.map((p) => p.severity)).toEqual(['warning']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describeWithTools(['mkntfs', 'mke2fs', 'mkfs.exfat'], 'probes: other filesystems are not FAT', () => {
  it('NTFS (mkntfs) and ext4 (mke2fs) boot sectors score 0 for fat and exfat; exFAT scores 0 for fat', async () => {
    const tmp = tempDir('probe');
    try {
      const make = (name: string, cmd: string, args: string[]) => {
        const p = join(tmp, name);
        sh('truncate', ['-s', '16M', p]);
        sh(cmd, [...args, p]);
        return new MemoryDevice(new Uint8Array(readFileSync(p)), { readOnly: true });
      };
      const ntfs = make('ntfs.img', 'mkntfs', ['-F', '-Q']);
      const ext4 = make('ext4.img', 'mke2fs', ['-q', '-F', '-t', 'ext4']);
      const exfat = make('exfat.img', 'mkfs.exfat', []);
      for (const d of [ntfs, ext4]) {
        expect(await fatFilesystem.probe(d)).toBe(0);
        expect(await exfatFilesystem.probe(d)).toBe(0);
      }
      expect(await fatFilesystem.probe(exfat)).toBe(0);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
