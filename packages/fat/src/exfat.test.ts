import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { MemoryDevice, walk, collectExtents, CorruptImageError, PartialDirectoryError } from '@diskit/core';
import { describeWithTools } from '../../../test/tools.js';
import { ExfatVolume, exfatFilesystem, fatFilesystem, setChecksum } from './index.js';
import { tempDir, sh, sha256, readAll, sorted, type Listed } from './test/helpers.js';

const fixtures = resolve(__dirname, '../../../test-images/exfat');
const image = () => new Uint8Array(gunzipSync(readFileSync(join(fixtures, 'small.img.gz'))));
interface Manifest extends Listed { mtime: number; sha256?: string }
const manifest = JSON.parse(readFileSync(join(fixtures, 'small.json'), 'utf8')) as Manifest[];

describe('exFAT (test-images/make-exfat.sh: mkfs.exfat, populated through exfat-fuse)', () => {
  it('probes as exFAT, not FAT; info has label, serial, sizes', async () => {
    const dev = new MemoryDevice(image(), { readOnly: true });
    expect(await exfatFilesystem.probe(dev)).toBeGreaterThan(50);
    expect(await fatFilesystem.probe(dev)).toBe(0);
    const vol = await ExfatVolume.mount(dev);
    const info = await vol.info();
    expect(info).toMatchObject({ label: 'DISKIT-EXF', clusterSize: 4096, sectorSize: 512 });
    expect(info.serial).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(info.usedSize).toBeGreaterThan(0);
  });

  it('the listing equals the source tree (paths, types, sizes, mtimes) and every sha256 equals the source', async () => {
    const vol = await ExfatVolume.mount(new MemoryDevice(image(), { readOnly: true }));
    const ours: Manifest[] = [];
    for await (const e of walk(vol)) {
      const m: Manifest = { path: e.path, type: e.type as Listed['type'], size: e.size, mtime: Math.floor(e.mtime!.getTime() / 1000) };
      if (e.type === 'file') m.sha256 = sha256(await readAll(await vol.openFile(e.path)));
      ours.push(m);
    }
    // exFAT keeps 10 ms for mtime; the manifest has the host's float seconds
    expect(sorted(ours)).toEqual(sorted(manifest.map((m) => ({ ...m, mtime: Math.floor(m.mtime) }))));
  });
});

/** The image with the entry set of `name` (in the root) changed by `edit` and its set checksum recomputed. */
async function withEntry(name: string, edit: (set: DataView, at: number) => void, fixChecksum = true): Promise<Uint8Array> {
  const img = image();
  const vol = await ExfatVolume.mount(new MemoryDevice(img.slice(), { readOnly: true }));
  const at = (await vol.node(`/${name}`))!.entryOffset;
  edit(new DataView(img.buffer, img.byteOffset), at);
  if (fixChecksum) new DataView(img.buffer).setUint16(at + 2, setChecksum(img, at, img[at + 1]! + 1), true);
  return img;
}

describe('exFAT details', () => {
  it('timestamps: written at UTC+05:30 (TZ=Asia/Kolkata), read back as the UTC instant touch set', async () => {
    const img = image();
    const vol = await ExfatVolume.mount(new MemoryDevice(img, { readOnly: true }));
    const n = (await vol.node('/hello.txt'))!;
    expect(n.mtime!.toISOString()).toBe('2024-02-29T13:14:15.000Z');
    // the stored offset byte: valid (0x80) + 22 quarter hours
    expect(img[n.entryOffset + 23]).toBe(0x80 | 22);
  });

  it('contiguous files are NoFatChain (one run); the file written into a hole is FAT-chained (two runs)', async () => {
    const vol = await ExfatVolume.mount(new MemoryDevice(image(), { readOnly: true }));
    const c = (await vol.node('/contiguous.dat'))!;
    expect(c.noFatChain).toBe(true);
    expect(await vol.fileRuns('/contiguous.dat', c)).toHaveLength(1);
    const f = (await vol.node('/fragmented.bin'))!;
    expect(f.noFatChain).toBe(false);
    expect((await vol.fileRuns('/fragmented.bin', f)).length).toBeGreaterThan(1);
    const many = (await vol.node('/many'))!;
    expect(many.dataLength).toBeGreaterThan(4096); // a directory of several clusters
  });

  it('a valid data length below the size: the rest reads as zeros and is reported as a zero extent', async () => {
    // sparse-tail.bin: 5000 random bytes, then truncate -s 300000 (zeros) — so the bytes are the same either way
    const img = await withEntry('sparse-tail.bin', (v, at) => v.setUint32(at + 32 + 8, 5000, true));
    const vol = await ExfatVolume.mount(new MemoryDevice(img, { readOnly: true }));
    const f = await vol.openFile('/sparse-tail.bin');
    expect(await collectExtents(f)).toEqual([{ offset: 0, length: 5000, kind: 'data' }, { offset: 5000, length: 295000, kind: 'zero' }]);
    expect(sha256(await readAll(f))).toBe(manifest.find((m) => m.path === '/sparse-tail.bin')!.sha256);
    const part = new Uint8Array(10);
    await f.read(part, 4995);
    expect([...part.subarray(5)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('a damaged set checksum or name hash makes readdir throw CorruptImageError naming the entry', async () => {
    const bad = await withEntry('hello.txt', (v, at) => v.setUint8(at + 32 * 2 + 2, 0x41), false);
    let vol = await ExfatVolume.mount(new MemoryDevice(bad, { readOnly: true }));
    await expect(vol.readdir('/')).rejects.toThrow(/set checksum/);
    // a partial directory: the damaged set is left out, the others are still there (the walker reports it and goes on)
    const err = (await vol.readdir('/').catch((e) => e)) as PartialDirectoryError;
    expect(err).toBeInstanceOf(PartialDirectoryError);
    const names = err.entries.map((e) => e.name);
    expect(names).toContain('contiguous.dat');
    expect(names).not.toContain('hello.txt');
    expect(names.length).toBe(manifest.filter((m) => m.path.lastIndexOf('/') === 0).length - 1);
    const problems: string[] = [];
    let walked = 0;
    for await (const _ of walk(vol, '/', { onError: (p) => problems.push(p.path) })) walked++;
    expect(problems).toEqual(['/']);
    expect(walked).toBe(manifest.length - 1);
    await expect(vol.stat('/many')).resolves.toMatchObject({ type: 'directory' });
    const hash = await withEntry('hello.txt', (v, at) => v.setUint16(at + 32 + 4, 0x1234, true));
    vol = await ExfatVolume.mount(new MemoryDevice(hash, { readOnly: true }));
    await expect(vol.readdir('/')).rejects.toBeInstanceOf(CorruptImageError);
    await expect(vol.readdir('/')).rejects.toThrow(/name hash/);
  });

  it('a damaged main boot region falls back to the backup; both damaged is a CorruptImageError', async () => {
    const img = image();
    img[100] ^= 0xff; // the serial: covered by the boot checksum
    const vol = await ExfatVolume.mount(new MemoryDevice(img.slice(), { readOnly: true }));
    expect((await vol.info()).bootRegion).toMatch(/backup/);
    img[12 * 512 + 100] ^= 0xff;
    await expect(ExfatVolume.mount(new MemoryDevice(img, { readOnly: true }))).rejects.toThrow(/boot checksum/);
  });

  it('check: the fixture is clean; a planted cross-link and a cluster free in the bitmap are errors', async () => {
    expect((await (await ExfatVolume.mount(new MemoryDevice(image(), { readOnly: true }))).check()).problems).toEqual([]);
    const vol0 = await ExfatVolume.mount(new MemoryDevice(image(), { readOnly: true }));
    const first = (await vol0.node('/contiguous.dat'))!.firstCluster;
    const img = await withEntry('one-cluster.bin', (v, at) => v.setUint32(at + 32 + 20, first, true));
    const r = await (await ExfatVolume.mount(new MemoryDevice(img, { readOnly: true }))).check();
    expect(r.problems.some((p) => p.severity === 'error' && /cross-link: cluster \d+ of \/one-cluster\.bin|cross-link: cluster \d+ of \/contiguous\.dat/.test(p.message))).toBe(true);
  });

  it('a file whose chain is shorter than its size is a CorruptImageError', async () => {
    const img = await withEntry('fragmented.bin', (v, at) => v.setBigUint64(at + 32 + 24, 200000n, true));
    const fixed = await withEntry('fragmented.bin', (v, at) => { v.setBigUint64(at + 32 + 24, 200000n, true); v.setBigUint64(at + 32 + 8, 200000n, true); });
    void img;
    const vol = await ExfatVolume.mount(new MemoryDevice(fixed, { readOnly: true }));
    await expect(vol.openFile('/fragmented.bin')).rejects.toThrow(/49 clusters for 200000 bytes/);
  });
});

describeWithTools(['fsck.exfat'], 'exFAT fixture is clean for fsck.exfat', () => {
  it('fsck.exfat -n finds no errors in the committed fixture, nor with a valid data length below the size', async () => {
    const d = tempDir('exf');
    writeFileSync(join(d, 'x.img'), image());
    expect(sh('fsck.exfat', ['-n', join(d, 'x.img')])).toMatch(/clean/);
    writeFileSync(join(d, 'y.img'), await withEntry('sparse-tail.bin', (v, at) => v.setUint32(at + 32 + 8, 5000, true)));
    expect(sh('fsck.exfat', ['-n', join(d, 'y.img')])).toMatch(/clean/);
    rmSync(d, { recursive: true, force: true });
  });
});
