/**
 * .sparseimage: the shared hand-made image (sha256 from its README), images diskit writes read
 * back by diskit and by an independent decoder written in Python in this file (the layout as
 * libyal's notes and mac_apt describe it), chained index nodes, and hostile headers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { MemoryDevice, collectExtents, CorruptImageError, TruncatedImageError, Registry, type BlockDevice } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, sharedImagesDir } from '../../../test/tools.js';
import {
  SparseImage, sparseimageDriver, createSparseImage, parseSparseHeader, encodeSparseHeader, parseIndexNode, encodeIndexNode,
  HEADER_SLOTS, INDEX_SLOTS, formats,
} from './index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SYNTHETIC = resolve(sharedImagesDir(), 'apple/dmg-forensic--synthetic.sparseimage');

async function readWhole(dev: BlockDevice): Promise<Uint8Array> {
  const out = new Uint8Array(dev.size);
  await dev.read(out, 0);
  return out;
}

/** A disk with data in a few scattered places (and a partial last band). */
function scattered(size: number, places: [number, number][]): Uint8Array {
  const b = new Uint8Array(size);
  for (const [at, len] of places) for (let i = 0; i < len; i++) b[at + i] = ((at + i) * 2654435761) >>> 24 || 1;
  return b;
}

async function write(disk: Uint8Array, options: Record<string, string> = {}): Promise<MemoryDevice> {
  const sink = new MemoryDevice(0, { growable: true });
  await createSparseImage(new MemoryDevice(disk, { readOnly: true }), sink, { options });
  return sink;
}

describe('the shared synthetic sparseimage (dmg-forensic)', () => {
  const have = existsSync(SYNTHETIC);
  it.skipIf(!have && process.env.CI !== 'true')('reads byte-exact: sha256 from the README, band 1 a hole', async () => {
    const file = await FileDevice.open(SYNTHETIC);
    const head = new Uint8Array(64 << 10).subarray(0, Math.min(file.size, 64 << 10));
    await file.read(head, 0);
    const reg = new Registry().addFormat(...formats);
    expect((await reg.detect(file)).driver.name).toBe('sparseimage');
    const img = await SparseImage.open(file);
    expect(img.size).toBe(3072);
    const disk = await readWhole(img);
    expect(sha(disk)).toBe('e39aabdc775e02172773ba64441e05221984b70307e8f728a2b42113c5a15b9a');
    expect(Buffer.from(disk.subarray(0, 4)).toString('hex')).toBe('482b0004');
    expect(await collectExtents(img)).toEqual([
      { offset: 0, length: 1024, kind: 'data' },
      { offset: 1024, length: 1024, kind: 'unallocated' },
      { offset: 2048, length: 1024, kind: 'data' },
    ]);
    const ins = await img.inspect();
    expect(ins.structures[0]).toMatchObject({ name: 'sprs header', offset: 0, size: 4096, fields: { version: 3, sectorsPerBand: 2, sectorCount: 6, usedSlots: 2 } });
    expect((await img.check()).problems).toEqual([]);
    expect(await SparseImage.holds(file)).toBe(true);
    await img.close();
  });
});

describe('header and index node structures', () => {
  it('decode → encode is byte-exact on the shared image header', () => {
    if (!existsSync(SYNTHETIC)) return;
    const b = new Uint8Array(readFileSync(SYNTHETIC)).subarray(0, 4096);
    const h = parseSparseHeader(b);
    // The hand-made header fills only the 32-bit sector count; ours fills both, as hdiutil does.
    const again = encodeSparseHeader(h);
    expect(parseSparseHeader(again)).toEqual(h);
    expect(Buffer.compare(again.subarray(0, 0x1c), b.subarray(0, 0x1c))).toBe(0);
    expect(Buffer.compare(again.subarray(0x24), b.subarray(0x24))).toBe(0);
  });
  it('decode → encode is byte-exact on a header hdiutil wrote (libyal/libmodi tests/data/sparse_image_header.1)', () => {
    // A 4 MiB image, 1 MiB bands, flags 1, both sector counts, bands stored in the order written (0, 3, 1, 2).
    const b = new Uint8Array(4096);
    b.set(Buffer.from('73707273000000030000080000000001000020000000000000000000000000000000200000000000000000000000000000000000000000000000000000000000000000010000000400000002' + '00000003', 'hex'));
    const h = parseSparseHeader(b);
    expect(h).toMatchObject({ version: 3, sectorsPerBand: 2048, flags: 1, sectorCount: 8192, nextIndexNode: 0 });
    expect(h.bands.slice(0, 5)).toEqual([1, 4, 2, 3, 0]);
    expect(Buffer.compare(encodeSparseHeader(h), b)).toBe(0);
  });

  it('index nodes round trip; the 64-bit count must agree with the 32-bit one', () => {
    const n = { number: 4, flags: 1, next: 123456789012, bands: Array.from({ length: INDEX_SLOTS }, (_, i) => i * 3) };
    expect(parseIndexNode(encodeIndexNode(n), 0)).toEqual(n);
    const h = encodeSparseHeader({ version: 3, sectorsPerBand: 8, flags: 1, sectorCount: 2 ** 33 + 5, nextIndexNode: 0, bands: [] });
    expect(parseSparseHeader(h).sectorCount).toBe(2 ** 33 + 5);
    h[0x13] ^= 1;
    expect(() => parseSparseHeader(h)).toThrow(CorruptImageError);
  });
});

describe('writing', () => {
  it('round trips, holes never written, bands in write order, file ≪ disk', async () => {
    const disk = scattered(40 << 20, [[5000, 3000], [17 << 20, 1 << 20], [(40 << 20) - 700, 700]]);
    const file = await write(disk);
    // Bands 0, 17 and 39 of 1 MiB: the header and three bands.
    expect(file.size).toBe(4096 + 3 * (1 << 20));
    const h = parseSparseHeader(file.bytes);
    expect(h.bands.slice(0, 4)).toEqual([1, 18, 40, 0]);
    expect(h).toMatchObject({ version: 3, sectorsPerBand: 2048, flags: 1, sectorCount: (40 << 20) / 512, nextIndexNode: 0 });
    const img = await SparseImage.open(new MemoryDevice(file.bytes, { readOnly: true }));
    expect(sha(await readWhole(img))).toBe(sha(disk));
    const ext = await collectExtents(img);
    expect(ext.filter((e) => e.kind === 'data').map((e) => [e.offset, e.length])).toEqual([[0, 1 << 20], [17 << 20, 1 << 20], [39 << 20, 1 << 20]]);
    expect(ext.filter((e) => e.kind === 'unallocated').reduce((s, e) => s + e.length, 0)).toBe(37 << 20);
  });

  it('chains index nodes past the header’s 1,008 slots (small bands), and a non-sector-multiple disk is padded', async () => {
    const bands = HEADER_SLOTS + INDEX_SLOTS + 17;
    const size = bands * 2 * 512 + 100;
    const places: [number, number][] = [];
    for (let b = 0; b < bands; b += 1) places.push([b * 1024 + (b % 7) * 10, 5]);
    places.push([size - 3, 3]);
    const disk = scattered(size, places);
    const file = await write(disk, { 'band-size': '1024' });
    const img = await SparseImage.open(new MemoryDevice(file.bytes, { readOnly: true }));
    expect(img.nodes.map((n) => [n.number, n.used])).toEqual([[-1, HEADER_SLOTS], [0, INDEX_SLOTS], [1, 18]]);
    expect(img.size).toBe(Math.ceil(size / 512) * 512);
    const back = await readWhole(img);
    expect(sha(back.subarray(0, size))).toBe(sha(disk));
    expect(back.subarray(size).every((x) => x === 0)).toBe(true);
    expect((await img.check()).problems).toEqual([]);
  });

  it('a 3 TiB disk (more than 2^32 sectors) with data in two places: both sector counts, holes never read', async () => {
    const size = 3 * 2 ** 40;
    const spots = [12345 * 512, size - 4096];
    const fill = (into: Uint8Array, offset: number) => {
      into.fill(0);
      for (const s of spots) for (let i = Math.max(s, offset); i < Math.min(s + 4096, offset + into.length); i++) into[i - offset] = (i % 251) + 1;
    };
    const huge: BlockDevice = {
      size, readOnly: true,
      async read(into, offset) {
        fill(into, offset);
      },
      async write() {},
      async *extents(offset = 0, length = size - offset) {
        // Only the two data places are data; all else was never written.
        let pos = offset;
        for (const s of spots) {
          const a = Math.max(pos, s - (s % 65536));
          const e = Math.min(offset + length, s + 65536);
          if (e <= a) continue;
          if (a > pos) yield { offset: pos, length: a - pos, kind: 'unallocated' as const };
          yield { offset: a, length: e - a, kind: 'data' as const };
          pos = e;
        }
        if (pos < offset + length) yield { offset: pos, length: offset + length - pos, kind: 'unallocated' as const };
      },
      async flush() {},
      async close() {},
    };
    const sink = new MemoryDevice(0, { growable: true });
    await createSparseImage(huge, sink, {});
    expect(sink.size).toBe(4096 + 2 * (1 << 20));
    const h = parseSparseHeader(sink.bytes);
    expect(h.sectorCount).toBe(size / 512);
    expect(new DataView(sink.bytes.buffer).getUint32(16)).toBe((size / 512) % 2 ** 32);
    const img = await SparseImage.open(new MemoryDevice(sink.bytes, { readOnly: true }));
    for (const s of spots) {
      const n = Math.min(8192, size - (s - 2048));
      const got = new Uint8Array(n);
      const want = new Uint8Array(n);
      await img.read(got, s - 2048);
      fill(want, s - 2048);
      expect(sha(got)).toBe(sha(want));
    }
    expect((await collectExtents(img)).length).toBe(4);
  });

  it('refuses unknown options and bad band sizes', async () => {
    await expect(write(new Uint8Array(512), { nope: '1' })).rejects.toThrow(/unknown option/);
    await expect(write(new Uint8Array(512), { 'band-size': '1000' })).rejects.toThrow(/multiple of 512/);
  });
});

describe('hostile input', () => {
  const good = async () => new Uint8Array((await write(scattered(8 << 10, [[0, 100], [5000, 10]]), { 'band-size': '1k' })).bytes);
  const open = (b: Uint8Array) => SparseImage.open(new MemoryDevice(b, { readOnly: true }));
  const set32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v);

  it('band numbers past the disk, repeated bands, slots past the end of the file', async () => {
    let b = await good();
    set32(b, 64, 99);
    await expect(open(b)).rejects.toThrow(CorruptImageError);
    b = await good();
    set32(b, 68, 1);
    await expect(open(b)).rejects.toThrow(/each band listed once/);
    b = (await good()).subarray(0, 4096 + 1024 + 10);
    await expect(open(b)).rejects.toThrow(TruncatedImageError);
  });

  it('index chains that loop, point backwards or out of the file; zero band size; huge disks', async () => {
    let b = await good();
    new DataView(b.buffer).setBigUint64(0x14, 0n + 100n);
    await expect(open(b)).rejects.toThrow(/next index node at or after/);
    b = await good();
    new DataView(b.buffer).setBigUint64(0x14, BigInt(b.length));
    await expect(open(b)).rejects.toThrow(TruncatedImageError);
    b = await good();
    set32(b, 8, 0);
    await expect(open(b)).rejects.toThrow(/sectors per band/);
    b = await good();
    new DataView(b.buffer).setBigUint64(0x1c, 2n ** 60n);
    set32(b, 16, 0);
    await expect(open(b)).rejects.toThrow(CorruptImageError);
    // A 2^40-sector disk with two bands: extents are computed from the index, not band by band.
    b = await good();
    new DataView(b.buffer).setBigUint64(0x1c, 2n ** 40n);
    set32(b, 16, 0);
    const img = await open(b);
    const ext = await collectExtents(img);
    expect(ext.length).toBe(4);
    expect(ext[3]).toMatchObject({ kind: 'unallocated' });
  });

  it('probe: only the sprs magic with a small version', () => {
    const head = new Uint8Array(4096);
    head.set([0x73, 0x70, 0x72, 0x73, 0, 0, 0, 3]);
    expect(sparseimageDriver.probe({ head, tail: head.subarray(0, 512), size: 4096 })).toBe(100);
    head[0] = 0;
    expect(sparseimageDriver.probe({ head, tail: head.subarray(0, 512), size: 4096 })).toBe(0);
  });
});

/** The independent reader: the layout as documented elsewhere, in a few lines of Python. */
const PY_READER = `
import struct, sys
f = open(sys.argv[1], 'rb'); data = f.read()
sig, ver, spb, flags, low, nxt, total = struct.unpack('>4sIIIIQQ', data[:36])
assert sig == b'sprs'
total = total or low
bs = spb * 512
out = bytearray(total * 512)
def take(base, entries):
    for k, v in enumerate(entries):
        if v:
            at = (v - 1) * bs
            n = min(bs, len(out) - at)
            out[at:at + n] = data[base + k * bs: base + k * bs + n]
take(4096, struct.unpack('>1008I', data[64:4096]))
while nxt:
    node = data[nxt:nxt + 4096]
    assert node[:4] == b'sprs'
    following = struct.unpack('>Q', node[12:20])[0]
    take(nxt + 4096, struct.unpack('>1010I', node[56:4096]))
    nxt = following
sys.stdout.buffer.write(out)
`;

describeWithTools(['python3'], 'an independent decoder reads what diskit writes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sprs-'));
    writeFileSync(join(dir, 'read.py'), PY_READER);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('python (index chain, holes) gives the source bytes; the file on disk stays sparse', async () => {
    const size = 3000 * 4096;
    const places: [number, number][] = [];
    for (let b = 0; b < 3000; b += 2) places.push([b * 4096 + 7, 300]);
    const disk = scattered(size, places);
    const path = join(dir, 'x.sparseimage');
    const sink = await FileDevice.create(path);
    await createSparseImage(new MemoryDevice(disk, { readOnly: true }), sink, { options: { 'band-size': '4k' } });
    await sink.close();
    const img = await SparseImage.open(await FileDevice.open(path));
    expect(img.nodes.length).toBe(2);
    await img.close();
    const bytes = execFileSync('python3', [join(dir, 'read.py'), path], { maxBuffer: 1 << 30 });
    expect(sha(bytes)).toBe(sha(disk));
    // Only the 1,500 bands with data, the header and one index node; the zero bands were never written.
    expect(statSync(path).size).toBe(2 * 4096 + 1500 * 4096);
  });
});
