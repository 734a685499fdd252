import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { CorruptImageError, MemoryDevice, DiskitError, PartialDirectoryError, walk, type BlockDevice } from '@diskit/core';
import { spawnSync } from 'node:child_process';
import { cli } from './test/judge.js';
import { readPartitionTable } from '@diskit/raw';
import { describeWithTools, run } from '../../../test/tools.js';
import { buildHfs, type BuildFile } from './test/build-hfs.js';
import { CHUNK, decmpfsXattr, sampleText, zlibResourceFork } from './test/compress.js';
import { HfsVolume } from './hfs-volume.js';
import { catalogComparator, keyParent, parseCatalogKey } from './catalog.js';
import type { BNode } from './btree.js';

/**
 * Crafted images worth replaying through the whole CLI stack: kept as the fuzz harness's HFS+
 * regression cases (test-images/fuzz-regressions/hfsplus/) when DISKIT_WRITE_FIXTURES=1.
 */
const regressions = join(__dirname, '../../../test-images/fuzz-regressions/hfsplus');
function keep(name: string, bytes: Uint8Array): Uint8Array {
  if (process.env.DISKIT_WRITE_FIXTURES === '1') {
    mkdirSync(regressions, { recursive: true });
    writeFileSync(join(regressions, `${name}.bin.gz`), gzipSync(bytes, { level: 9 }));
  }
  return bytes;
}

/** Read every file of every folder: the whole volume, as extract would. */
async function readAll(bytes: Uint8Array): Promise<number> {
  const vol = await HfsVolume.mount(new MemoryDevice(bytes));
  let n = 0;
  for await (const e of walk(vol)) {
    n++;
    if (e.type !== 'file') continue;
    const dev = await vol.openFile(e.path);
    await dev.read(new Uint8Array(dev.size), 0);
  }
  return n;
}

/** The byte offset of a catalog node in the image (its descriptor). */
const nodeStart = (vol: HfsVolume, n: BNode) => vol.catalog.where(n) - 14;

describe('hostile HFS+ catalogs: typed errors, never a hang or a short listing', () => {
  let base: Uint8Array;
  beforeAll(() => {
    const files: BuildFile[] = [];
    for (let i = 0; i < 120; i++) files.push({ name: `file-${String(i).padStart(3, '0')}.txt`, data: sampleText(100 + i, i) });
    base = buildHfs('Many', files);
  });

  it('the intact volume has a multi-level catalog and reads whole', async () => {
    const vol = await HfsVolume.mount(new MemoryDevice(base.slice()));
    expect(vol.catalog.header.depth).toBe(2);
    expect(vol.catalog.header.lastLeafNode).toBeGreaterThan(3);
    expect(await readAll(base.slice())).toBe(120);
  });

  const mutated = async (fn: (vol: HfsVolume, b: Uint8Array, v: DataView) => Promise<void> | void) => {
    const b = base.slice();
    const vol = await HfsVolume.mount(new MemoryDevice(b.slice()));
    await fn(vol, b, new DataView(b.buffer));
    return b;
  };

  it('a leaf chain that loops back on itself', async () => {
    const b = await mutated(async (vol, _b, v) => {
      const leaf = await vol.catalog.node(2);
      v.setUint32(nodeStart(vol, leaf), 2); // fLink = itself
    });
    await expect(readAll(keep('leaf-chain-loop', b))).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('a leaf chain that skips a leaf (the next leaf does not link back)', async () => {
    const b = await mutated(async (vol, _b, v) => {
      const leaf = await vol.catalog.node(1);
      v.setUint32(nodeStart(vol, leaf), 3);
    });
    await expect(readAll(b)).rejects.toThrow(/leaf chain/);
  });

  it('an index record pointing back at the index node (a descent loop)', async () => {
    const b = await mutated(async (vol, _b, v) => {
      const root = await vol.catalog.node(vol.catalog.header.rootNode);
      const rec = vol.catalog.record(root, 1);
      v.setUint32(nodeStart(vol, root) + root.offsets[1]! + rec.key.length, vol.catalog.header.rootNode);
    });
    await expect(readAll(keep('index-loop', b))).rejects.toBeInstanceOf(CorruptImageError);
  });

  for (const [what, size] of [['not a power of two', 1000], ['too small', 256], ['zero', 0]] as const) {
    it(`a header node size that is ${what}`, async () => {
      const b = await mutated((vol, _b, v) => {
        v.setUint16(catalogHeaderAt(vol) + 32, size);
      });
      await expect(HfsVolume.mount(new MemoryDevice(keep(`node-size-${size}`, b)))).rejects.toThrow(/node size/);
    });
  }

  it('a record count larger than the node holds', async () => {
    const b = await mutated(async (vol, _b, v) => {
      v.setUint16(nodeStart(vol, await vol.catalog.node(3)) + 10, 60000);
    });
    await expect(readAll(b)).rejects.toThrow(/record count/);
  });

  it('a key too short to hold a parent ID in the middle of a folder: the folder is partial, not short', async () => {
    const b = await mutated(async (vol, _b, v) => {
      const n = await vol.catalog.node(3);
      v.setUint16(nodeStart(vol, n) + n.offsets[5]!, 2);
    });
    const err = await (await HfsVolume.mount(new MemoryDevice(b))).readdir('/').catch((e) => e);
    expect(err).toBeInstanceOf(PartialDirectoryError);
    expect(err.message).toMatch(/catalog key/);
    expect(err.entries.length).toBeGreaterThan(10);
    expect(err.entries.length).toBeLessThan(120);
  });

  it('record offsets out of order', async () => {
    const b = await mutated(async (vol, _b, v) => {
      const n = await vol.catalog.node(2);
      const end = nodeStart(vol, n) + vol.catalog.header.nodeSize;
      v.setUint16(end - 4, 9000);
    });
    await expect(readAll(b)).rejects.toThrow(/record offset/);
  });

  it('a tree depth bomb in the header', async () => {
    const b = await mutated((vol, _b, v) => v.setUint16(catalogHeaderAt(vol) + 14, 40000));
    await expect(HfsVolume.mount(new MemoryDevice(keep('depth-bomb', b)))).rejects.toThrow(/depth/);
  });

  it('an image cut short', async () => {
    for (const cut of [Math.floor(base.length / 2), 70 * 4096, 40 * 4096, 3000]) {
      const b = base.slice(0, cut);
      await expect(readAll(b)).rejects.toBeInstanceOf(DiskitError);
    }
    // Only the last block (the alternate header) missing: everything reads, info says so.
    const vol = await HfsVolume.mount(new MemoryDevice(base.slice(0, base.length - 4096)));
    expect(await vol.info()).toMatchObject({ truncated: true });
    expect(await (await HfsVolume.mount(new MemoryDevice(base.slice()))).info()).toMatchObject({ truncated: false });
  });

  it('a damaged volume header: the alternate one at the end is used, and info says so', async () => {
    const b = base.slice();
    b[1024] = 0;
    expect(await readAll(b.slice())).toBe(120);
    const info = await (await HfsVolume.mount(new MemoryDevice(b))).info();
    expect(info.problems).toEqual(['the volume header is damaged: read through the alternate header at the end']);
    b[b.length - 1024] = 0;
    await expect(HfsVolume.mount(new MemoryDevice(b))).rejects.toThrow(/HFS\+ volume header at offset 1024/);
  });

  it('a missing thread record (a folder listing that would silently be empty)', async () => {
    const b = await mutated(async (vol, bytes) => {
      // Rename the root's thread key (2, "") to (3, ""): root's listing then has no thread.
      const at = await vol.catalog.seek((k) => (keyParent(k) < 2 ? -1 : keyParent(k) > 2 ? 1 : parseCatalogKey(k, 0).name === '' ? 0 : 1));
      const where = vol.catalog.where(at!.node, at!.index);
      new DataView(bytes.buffer).setUint32(where + 2, 3);
    });
    await expect(HfsVolume.mount(new MemoryDevice(b))).rejects.toBeInstanceOf(CorruptImageError);
  });
});

/** The catalog header node's offset (node 0 of the catalog file). */
function catalogHeaderAt(vol: HfsVolume): number {
  return vol.header.catalogFile.extents[0]!.startBlock * vol.header.blockSize;
}

describe('check', () => {
  const files = Array.from({ length: 40 }, (_, i) => ({ name: `f${i}.txt`, data: sampleText(50, i) }));
  it('finds nothing wrong with an intact volume (and with hdiutil volumes: see read.test.ts)', async () => {
    const vol = await HfsVolume.mount(new MemoryDevice(buildHfs('Ok', files)));
    expect((await vol.check()).problems).toEqual([]);
  });

  it('finds wrong counts, a missing alternate header, a fork past the volume', async () => {
    const b = buildHfs('Bad', files);
    const v = new DataView(b.buffer);
    v.setUint32(1024 + 32, 41); // fileCount
    b.fill(0, b.length - 1024, b.length - 512); // alternate header
    const vol0 = await HfsVolume.mount(new MemoryDevice(b.slice()));
    const rec = await vol0.stat('/f3.txt');
    // Point f3's first extent far past the end: find its record and bump the start block.
    for await (const r of vol0.catalog.scan(catalogComparator(2, '', false), (k) => keyParent(k) === 2)) {
      if (parseCatalogKey(r.key, r.where).name === 'f3.txt') v.setUint32(r.where + r.key.length + 88 + 16, 1 << 30);
    }
    expect(rec.size).toBe(50);
    const report = await (await HfsVolume.mount(new MemoryDevice(b))).check();
    const messages = report.problems.map((p) => `${p.structure}: ${p.message}`).join('\n');
    expect(messages).toMatch(/header says 41 files, the catalog holds 40/);
    expect(messages).toMatch(/alternate volume header/);
    expect(messages).toMatch(/extent 1073741824\+1 past the volume/);
    // Through the CLI: exit 1.
    const img = join(mkdtempSync(join(tmpdir(), 'diskit-hfs-check-')), 'bad.hfs');
    writeFileSync(img, b);
    const r = spawnSync('node', [cli, 'check', img], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/41 files/);
  });
});

describe('damaged records: the rest of the folder is still listed, the damage reported', () => {
  it('a hard link whose iNode is missing, a compressed file without its attribute', async () => {
    const b = buildHfs('Partial', [
      { name: 'a.txt', data: new TextEncoder().encode('a') },
      { name: 'broken-link', hardLinkTo: 404 },
      { name: 'broken-compressed', compressed: true },
      { name: 'z.txt', data: new TextEncoder().encode('z') },
    ], { iNodes: { 1: { name: 'iNode1', data: new Uint8Array(1) } } });
    const vol = await HfsVolume.mount(new MemoryDevice(b));
    const err = await vol.readdir('/').catch((e) => e);
    expect(err).toBeInstanceOf(PartialDirectoryError);
    expect((err as PartialDirectoryError).entries.map((e) => e.name)).toEqual(['a.txt', 'z.txt']);
    expect((err as PartialDirectoryError).problems.map((p) => p.structure)).toEqual(['HFS+ compressed file', 'HFS+ file hard link']);
    // Through the CLI: the readable entries listed, the damage on stderr, exit 1.
    const img = join(mkdtempSync(join(tmpdir(), 'diskit-hfs-partial-')), 'p.hfs');
    writeFileSync(img, b);
    const r = spawnSync('node', [cli, 'ls', '-R', img], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['/a.txt', '/z.txt']);
    expect(r.stderr).toMatch(/HFS\+ compressed file .*and 1 more damaged record/);
  });
});

describe('decmpfs size lies', () => {
  const text = sampleText(3 * CHUNK + 10, 9);
  const image = (f: Partial<BuildFile>) => buildHfs('Lies', [{ name: 'f', compressed: true, ...f }]);
  const read = async (b: Uint8Array) => {
    const vol = await HfsVolume.mount(new MemoryDevice(b));
    const dev: BlockDevice = await vol.openFile('/f');
    await dev.read(new Uint8Array(dev.size), 0);
    return dev.size;
  };

  it('inline zlib claiming more bytes than it inflates to', async () => {
    const b = image({ xattrs: { 'com.apple.decmpfs': decmpfsXattr(3, text.length + 1, new Uint8Array(deflateSync(text))) } });
    await expect(read(b)).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('inline data claiming gigabytes', async () => {
    const b = image({ xattrs: { 'com.apple.decmpfs': decmpfsXattr(3, 2 ** 40, new Uint8Array(deflateSync(text))) } });
    await expect(read(keep('decmpfs-inline-size-lie', b))).rejects.toThrow(/inline file of at most/);
    // Not listed at the size it lies about either.
    const err = await (await HfsVolume.mount(new MemoryDevice(b))).readdir('/').catch((e) => e);
    expect(err).toBeInstanceOf(PartialDirectoryError);
    expect(err.entries).toEqual([]);
  });

  it('a resource fork whose chunk table disagrees with the claimed size', async () => {
    for (const claimed of [text.length + CHUNK, 2 ** 44, 1]) {
      const b = image({ rsrc: zlibResourceFork(text), xattrs: { 'com.apple.decmpfs': decmpfsXattr(4, claimed) } });
      await expect(read(claimed === 2 ** 44 ? keep('decmpfs-rsrc-size-lie', b) : b)).rejects.toThrow(/chunks for the/);
    }
  });

  it('a compressed flag without a decmpfs attribute', async () => {
    await expect(read(image({ data: text }))).rejects.toThrow(/com\.apple\.decmpfs/);
  });

  it('an unknown compression type', async () => {
    const b = image({ xattrs: { 'com.apple.decmpfs': decmpfsXattr(99, 10, new Uint8Array(10)) } });
    await expect(read(b)).rejects.toThrow(/type 99/);
  });

  it('the truth reads back', async () => {
    const b = image({ rsrc: zlibResourceFork(text), xattrs: { 'com.apple.decmpfs': decmpfsXattr(4, text.length) } });
    expect(await read(b)).toBe(text.length);
  });
});

describeWithTools(['xorriso'], 'hostile folder records (xorriso-made volume)', () => {
  let part: Uint8Array;
  beforeAll(async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'diskit-hfs-hostile-'));
    mkdirSync(join(tmp, 'tree/a/b/c'), { recursive: true });
    writeFileSync(join(tmp, 'tree/a/b/c/f.txt'), 'x');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-hfsplus', '-o', join(tmp, 'h.iso'), join(tmp, 'tree')]);
    const iso = new Uint8Array(readFileSync(join(tmp, 'h.iso')));
    const p = (await readPartitionTable(new MemoryDevice(iso))).partitions.find((x) => x.type === 'Apple_HFS')!;
    part = iso.slice(p.start, p.start + p.size);
  });

  /** Set the folder ID of the folder record named `name` (in folder `parent`) to `id`. */
  const setFolderId = async (name: string, parent: number, id: number) => {
    const b = part.slice();
    const vol = await HfsVolume.mount(new MemoryDevice(b.slice()));
    for await (const r of vol.catalog.scan(catalogComparator(parent, '', false), (k) => keyParent(k) === parent)) {
      if (parseCatalogKey(r.key, r.where).name === name) new DataView(b.buffer).setUint32(r.where + r.key.length + 8, id);
    }
    return b;
  };
  const idOf = async (path: string) => (await (await HfsVolume.mount(new MemoryDevice(part.slice()))).stat(path)).inode!;

  it('a folder that is its own ancestor is an error, not an endless walk', async () => {
    const b = await setFolderId('a', 2, 2);
    const vol = await HfsVolume.mount(new MemoryDevice(b));
    await expect(vol.readdir('/a')).rejects.toThrow(/own ancestor/);
  });

  it('a folder record pointing at another folder (its thread names another parent)', async () => {
    const a = await idOf('/a');
    const c = await idOf('/a/b/c');
    const b = await setFolderId('b', a, c);
    const vol = await HfsVolume.mount(new MemoryDevice(b));
    await expect(vol.readdir('/a/b')).rejects.toThrow(/folder thread/);
  });
});
