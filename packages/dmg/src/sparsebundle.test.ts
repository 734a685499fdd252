/**
 * .sparsebundle: bundles written by diskit and made by hand here, read back through a Node
 * directory and through a set of Blobs (what a browser hands over); missing bands read as zeros;
 * the band files, joined by an independent `cat`, are the disk.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { MemoryDevice, collectExtents, fileSetSource, CorruptImageError, UnsupportedFeatureError, type BlockDevice } from '@diskit/core';
import { DirectoryOutput, directorySource } from '@diskit/core/node';
import { describeWithTools } from '../../../test/tools.js';
import { SparseBundleImage, createSparseBundle, parseBundleInfo, buildBundleInfo, sparsebundleDriver } from './index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MiB = 1 << 20;

async function readWhole(dev: BlockDevice): Promise<Uint8Array> {
  const out = new Uint8Array(dev.size);
  await dev.read(out, 0);
  return out;
}

function scattered(size: number, places: [number, number][]): Uint8Array {
  const b = new Uint8Array(size);
  for (const [at, len] of places) for (let i = 0; i < len; i++) b[at + i] = ((at + i) * 2654435761) >>> 24 || 1;
  return b;
}

/** hdiutil's Info.plist for an 8 MiB-band, 100 MiB bundle (tabs, this key order, a final newline). */
const HDIUTIL_PLIST = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleInfoDictionaryVersion</key>
	<string>6.0</string>
	<key>band-size</key>
	<integer>8388608</integer>
	<key>bundle-backingstore-version</key>
	<integer>1</integer>
	<key>diskimage-bundle-type</key>
	<string>com.apple.diskimage.sparsebundle</string>
	<key>size</key>
	<integer>104857600</integer>
</dict>
</plist>
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function writeBundle(name: string, disk: Uint8Array, options: Record<string, string> = {}): Promise<string> {
  const path = join(dir, name);
  const out = await DirectoryOutput.create(path, { force: true });
  try {
    await createSparseBundle(new MemoryDevice(disk, { readOnly: true }), out, { options });
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  return path;
}

describe('Info.plist', () => {
  it('is written as hdiutil writes it, and parses back', () => {
    expect(buildBundleInfo(8 * MiB, 100 * MiB)).toBe(HDIUTIL_PLIST);
    // The same layout as the hdiutil Info.plist in libyal/libmodi's tests/data/sparse_bundle_xml_plist.1 (494 bytes).
    const libyal = HDIUTIL_PLIST.replace('104857600', '4194304');
    expect(libyal.length).toBe(494);
    expect(buildBundleInfo(8 * MiB, 4 * MiB)).toBe(libyal);
    expect(parseBundleInfo(HDIUTIL_PLIST)).toMatchObject({ bandSize: 8 * MiB, size: 100 * MiB, version: 1 });
  });
  it('refuses what is not a sparse bundle, or has no usable sizes', () => {
    expect(() => parseBundleInfo(HDIUTIL_PLIST.replace('sparsebundle</string>', 'other</string>'))).toThrow(UnsupportedFeatureError);
    expect(() => parseBundleInfo(HDIUTIL_PLIST.replace('8388608', '0'))).toThrow(CorruptImageError);
    expect(() => parseBundleInfo(HDIUTIL_PLIST.replace('<key>size</key>', '<key>sighs</key>'))).toThrow(/size/);
    expect(() => parseBundleInfo(HDIUTIL_PLIST.replace('<integer>1</integer>', '<integer>7</integer>'))).toThrow(/backingstore-version 7/);
    expect(() => parseBundleInfo('<plist><array></array></plist>')).toThrow(CorruptImageError);
    expect(() => parseBundleInfo('bplist00\u00d1\u0001')).toThrow(/binary property list/);
  });
});

describe('writing and reading bundles', () => {
  it('round trips; bands only for data (hex names), token and Info.bckup beside Info.plist', async () => {
    const disk = scattered(40 * MiB, [[100, 5000], [17 * MiB, 3 * MiB], [40 * MiB - 10, 10]]);
    const path = await writeBundle('a.sparsebundle', disk, { 'band-size': '1m' });
    expect(readdirSync(path).sort()).toEqual(['Info.bckup', 'Info.plist', 'bands', 'token']);
    expect(readFileSync(join(path, 'Info.plist'), 'utf8')).toBe(buildBundleInfo(MiB, 40 * MiB));
    expect(readFileSync(join(path, 'Info.bckup'), 'utf8')).toBe(readFileSync(join(path, 'Info.plist'), 'utf8'));
    expect(statSync(join(path, 'token')).size).toBe(0);
    expect(readdirSync(join(path, 'bands')).sort()).toEqual(['0', '11', '12', '13', '27']);
    expect(statSync(join(path, 'bands/27')).size).toBe(MiB);

    const img = await SparseBundleImage.open(directorySource(path));
    expect(img.size).toBe(40 * MiB);
    expect(sha(await readWhole(img))).toBe(sha(disk));
    const ext = await collectExtents(img);
    expect(ext.filter((e) => e.kind === 'unallocated').reduce((s, e) => s + e.length, 0)).toBe(35 * MiB);
    expect((await img.check()).problems).toEqual([]);
    await img.close();
    expect(await sparsebundleDriver.probeDirectory(directorySource(path))).toBe(100);
    expect(await sparsebundleDriver.probeDirectory(directorySource(dir))).toBe(0);
  });

  it('a deleted band reads as zeros (unallocated); a short band file reads zeros past its end', async () => {
    const disk = scattered(4 * MiB, [[0, 4 * MiB]]);
    const path = await writeBundle('b.sparsebundle', disk, { 'band-size': '1m' });
    unlinkSync(join(path, 'bands/2'));
    truncateSync(join(path, 'bands/3'), 1000);
    const img = await SparseBundleImage.open(directorySource(path));
    const back = await readWhole(img);
    const expected = disk.slice();
    expected.fill(0, 2 * MiB);
    expected.set(disk.subarray(3 * MiB, 3 * MiB + 1000), 3 * MiB);
    expect(sha(back)).toBe(sha(expected));
    expect(await collectExtents(img)).toEqual([
      { offset: 0, length: 2 * MiB, kind: 'data' },
      { offset: 2 * MiB, length: MiB, kind: 'unallocated' },
      { offset: 3 * MiB, length: 1000, kind: 'data' },
      { offset: 3 * MiB + 1000, length: MiB - 1000, kind: 'zero' },
    ]);
    await img.close();
  });

  it('a bundle made by hand: Info.bckup only, odd names in bands/, a band past the end, a band too long', async () => {
    const path = join(dir, 'hand.sparsebundle');
    mkdirSync(join(path, 'bands'), { recursive: true });
    writeFileSync(join(path, 'Info.bckup'), buildBundleInfo(4096, 3 * 4096 + 512));
    writeFileSync(join(path, 'bands/0'), Buffer.alloc(4096, 0x11));
    writeFileSync(join(path, 'bands/3'), Buffer.alloc(512, 0x33));
    writeFileSync(join(path, 'bands/9'), Buffer.alloc(10, 0x99));
    writeFileSync(join(path, 'bands/.DS_Store'), 'x');
    const img = await SparseBundleImage.open(directorySource(path));
    const back = await readWhole(img);
    expect(back.length).toBe(3 * 4096 + 512);
    expect(back.subarray(0, 4096).every((x) => x === 0x11)).toBe(true);
    expect(back.subarray(4096, 3 * 4096).every((x) => x === 0)).toBe(true);
    expect(back.subarray(3 * 4096).every((x) => x === 0x33)).toBe(true);
    expect((await img.check()).problems.map((p) => p.message)).toEqual([
      'Info.plist is missing; read Info.bckup',
      'bands/.DS_Store is not a band file name (lowercase hex)',
      "bands/9 lies past the disk's end (ignored)",
    ]);
    await img.close();
    writeFileSync(join(path, 'bands/1'), Buffer.alloc(5000, 1));
    const bad = await SparseBundleImage.open(directorySource(path));
    await expect(bad.read(new Uint8Array(10), 4096)).rejects.toThrow(/at most 4096 bytes/);
    expect((await bad.check()).problems.filter((p) => p.severity === 'error')).toHaveLength(1);
    await bad.close();
  });

  it('many concurrent reads over more band files than stay open (16) agree with the disk', async () => {
    const disk = scattered(200 * 4096, Array.from({ length: 200 }, (_, i) => [i * 4096 + (i % 9), 4000] as [number, number]));
    const path = await writeBundle('many.sparsebundle', disk, { 'band-size': '4k' });
    const img = await SparseBundleImage.open(directorySource(path));
    let x = 12345;
    const reads = Array.from({ length: 400 }, () => {
      x = (x * 1103515245 + 12345) >>> 0;
      const off = x % (disk.length - 20000);
      const buf = new Uint8Array(1 + (x % 19000));
      return img.read(buf, off).then(() => sha(buf) === sha(disk.subarray(off, off + buf.length)));
    });
    expect((await Promise.all(reads)).every(Boolean)).toBe(true);
    await img.close();
  });

  it('reads from a set of Blobs, as a browser gives a dropped folder', async () => {
    const disk = scattered(3 * MiB, [[10, 100], [2 * MiB + 5, 100]]);
    const path = await writeBundle('c.sparsebundle', disk, { 'band-size': '512k' });
    const files = new Map<string, Blob>();
    files.set('Info.plist', new Blob([readFileSync(join(path, 'Info.plist'))]));
    for (const b of readdirSync(join(path, 'bands'))) files.set(`bands/${b}`, new Blob([readFileSync(join(path, 'bands', b))]));
    const img = await SparseBundleImage.open(fileSetSource('c.sparsebundle', files));
    expect(sha(await readWhole(img))).toBe(sha(disk));
    expect((await collectExtents(img)).filter((e) => e.kind !== 'unallocated').length).toBe(2);
  });

  it('layers compose: an "encrypted" bundle opens through an unwrap layer; without one it is refused', async () => {
    // A stand-in for the encrcdsa layer: a 4 KiB header saying encrcdsa, then the disk XOR 0x5a.
    const disk = scattered(64 << 10, [[0, 3000], [40 << 10, 100]]);
    const wrapped = new Uint8Array(4096 + disk.length);
    wrapped.set(new TextEncoder().encode('encrcdsa'));
    for (let i = 0; i < disk.length; i++) wrapped[4096 + i] = disk[i]! ^ 0x5a;
    const path = await writeBundle('enc.sparsebundle', wrapped, { 'band-size': '16k' });
    await expect(SparseBundleImage.open(directorySource(path))).rejects.toThrow(/encrypted sparse bundle/);
    const unwrap = async (bands: BlockDevice): Promise<BlockDevice> => ({
      size: bands.size - 4096,
      readOnly: true,
      async read(into, offset) {
        await bands.read(into, offset + 4096);
        for (let i = 0; i < into.length; i++) into[i]! ^= 0x5a;
      },
      async write() {},
      async *extents(offset = 0, length = bands.size - 4096 - offset) {
        yield { offset, length, kind: 'data' as const };
      },
      async flush() {},
      async close() {},
    });
    const img = await SparseBundleImage.open(directorySource(path), { unwrap });
    expect(img.variant).toBe('UDSB (encrypted)');
    expect(sha(await readWhole(img))).toBe(sha(disk));
    await img.close();
  });
});

describeWithTools(['cat'], 'an independent join of the band files', () => {
  it('cat of bands/0..n (missing ones as zeros, via truncate) is the disk', async () => {
    const disk = scattered(6 * MiB + 512, [[0, 1000], [3 * MiB, MiB], [6 * MiB, 512]]);
    const path = await writeBundle('d.sparsebundle', disk, { 'band-size': '1m' });
    const joined = join(dir, 'joined.raw');
    // Every band in turn: a missing one becomes a band of zeros.
    const parts: string[] = [];
    for (let b = 0; b * MiB < disk.length; b++) {
      const p = join(path, 'bands', b.toString(16));
      const fill = join(dir, `zero-${b}`);
      const len = Math.min(MiB, disk.length - b * MiB);
      try {
        statSync(p);
        parts.push(p);
      } catch {
        writeFileSync(fill, Buffer.alloc(len));
        parts.push(fill);
      }
    }
    writeFileSync(joined, execFileSync('cat', parts, { maxBuffer: 1 << 30 }));
    expect(sha(readFileSync(joined))).toBe(sha(disk));
  });
});
