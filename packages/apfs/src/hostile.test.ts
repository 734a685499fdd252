/**
 * Damaged containers: every one ends in a typed error naming the structure, in bounded time —
 * checksum failures, object-map cycles, B-tree loops and depth bombs, lying sizes, missing records.
 */
import { describe, it, expect } from 'vitest';
import { CorruptImageError, MemoryDevice, TruncatedImageError, UnsupportedFeatureError, walk } from '@diskit/core';
import { apfsFilesystem, openContainer, ObjectMap, sealObject, type ApfsVolume } from './index.js';
import { buildApfs, type Entry } from './test/build-container.js';
import { decmpfs } from './test/decmpfs-encode.js';
import { diskit } from './test/helpers.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BS = 4096;
const text = (s: string) => new TextEncoder().encode(s);
const many: Entry[] = [{ path: '/d', type: 'directory' }];
for (let i = 0; i < 300; i++) many.push({ path: `/d/f${i}`, type: 'file', data: text(`f${i}`) });

const mount = (b: Uint8Array, opts?: Record<string, string>) => apfsFilesystem.mount(new MemoryDevice(b, { readOnly: true }), opts) as Promise<ApfsVolume>;
const dv = (b: Uint8Array, block: number) => new DataView(b.buffer, b.byteOffset + block * BS, BS);
const reseal = (b: Uint8Array, block: number) => sealObject(b.subarray(block * BS, (block + 1) * BS));

async function listAll(b: Uint8Array): Promise<number> {
  const vol = await mount(b);
  let n = 0;
  for await (const e of walk(vol)) {
    n++;
    if (e.type === 'file') {
      const f = await vol.openFile(e.path);
      await f.read(new Uint8Array(f.size), 0);
    }
  }
  return n;
}

/** Block addresses of the live file-system tree's root and of one of its children. */
async function fsNodes(b: Uint8Array): Promise<{ root: number; child: number; childOid: number; omapLeaf: number }> {
  const c = await openContainer(new MemoryDevice(b, { readOnly: true }));
  const v = c.volumes[0]!;
  const omap = await ObjectMap.open(c.store, v.omapOid, 'v');
  const root = await omap.resolve(v.rootTreeOid, c.sb.xid, 'root');
  const childOid = Number(dv(b, root).getBigUint64(BS - 40 - 8, true)); // the value area grows down from the tree info
  return { root, child: await omap.resolve(childOid, c.sb.xid, 'child'), childOid, omapLeaf: omap.treeAddr };
}

describe('damaged containers', () => {
  const good = buildApfs([{ name: 'V', entries: many }]);

  it('the undamaged container lists every entry', async () => {
    expect(await listAll(good)).toBe(301);
  });

  it('a flipped byte in a file-system node fails its Fletcher-64 checksum, and readdir says so', async () => {
    const b = good.slice();
    const { child } = await fsNodes(b);
    b[child * BS + 200]! ^= 0x40;
    const vol = await mount(b);
    const err = await vol.readdir('/d').catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(err.message).toMatch(/Fletcher-64/);
    expect(err.offset).toBe(child * BS);
  });

  it('an object map that sends a child back to its root (a cycle) is refused by the level check', async () => {
    const b = good.slice();
    const { root, omapLeaf } = await fsNodes(b);
    // Point every mapping in the (single-leaf) volume object map at the root node.
    const leaf = dv(b, omapLeaf);
    const n = leaf.getUint32(36, true);
    for (let i = 0; i < n; i++) {
      const voff = leaf.getUint16(56 + i * 4 + 2, true);
      leaf.setBigUint64(BS - 40 - voff + 8, BigInt(root), true);
    }
    reseal(b, omapLeaf);
    const err = await listAll(b).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(err.message).toMatch(/level|object id/);
  });

  it('a B-tree index whose entries all name one child (a loop in the tree) is refused', async () => {
    const b = good.slice();
    const { root, childOid } = await fsNodes(b);
    const node = dv(b, root);
    const n = node.getUint32(36, true);
    for (let i = 0; i < n; i++) {
      const voff = node.getUint16(56 + i * 8 + 4, true);
      node.setBigUint64(BS - 40 - voff, BigInt(childOid), true);
    }
    reseal(b, root);
    const err = await listAll(b).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(err.message).toMatch(/reached twice|loop/);
  });

  it('a root claiming level 200 (a depth bomb) is refused before any descent', async () => {
    const b = good.slice();
    const { root } = await fsNodes(b);
    dv(b, root).setUint16(34, 200, true);
    reseal(b, root);
    await expect(listAll(b)).rejects.toThrow(/level below 12/);
  });

  it('a container whose block count runs past the device is truncated', async () => {
    await expect(mount(good.subarray(0, good.length - BS))).rejects.toBeInstanceOf(TruncatedImageError);
  });

  it('no valid superblock anywhere: a clear error', async () => {
    const b = good.slice();
    b[100]! ^= 1;
    await expect(mount(b)).rejects.toThrow(/container superblock at offset 0: expected Fletcher-64/);
  });

  it('a stale block 0 is overridden by the newer checkpoint superblock in the descriptor area', async () => {
    const b = good.slice();
    // Make block 0 an older transaction; the ring copy (block 2) still says 10.
    dv(b, 0).setBigUint64(16, 5n, true);
    reseal(b, 0);
    const vol = await mount(b);
    expect((await vol.info()).checkpointXid).toBe(10);
  });

  it('decmpfs that claims more bytes than its data holds is corrupt, not short', async () => {
    const d = decmpfs(text('x'.repeat(1000)), 'zlib-inline');
    new DataView(d.attr.buffer, d.attr.byteOffset).setBigUint64(8, 5000n, true);
    const vol = await mount(buildApfs([{ name: 'V', entries: [{ path: '/z', type: 'file', decmpfs: d }] }]));
    await expect(vol.openFile('/z')).rejects.toBeInstanceOf(CorruptImageError);
    const f = decmpfs(text('y'.repeat(200000)), 'lzvn-fork');
    new DataView(f.fork!.buffer, f.fork!.byteOffset).setUint32(8, 0xffffff, true);
    const v2 = await mount(buildApfs([{ name: 'V', entries: [{ path: '/z', type: 'file', decmpfs: f }] }]));
    await expect(v2.openFile('/z')).rejects.toThrow(/chunk table/);
  });

  it('encrypted volumes, sealed volumes and Fusion containers: UnsupportedFeatureError; info still lists the volume', async () => {
    const vol = await mount(buildApfs([{ name: 'Secret', encrypted: true, entries: [] }]));
    await expect(vol.readdir('/')).rejects.toBeInstanceOf(UnsupportedFeatureError);
    expect((await vol.info()).volumes).toMatchObject([{ name: 'Secret', encrypted: true }]);
    const fusion = good.slice();
    for (const blk of [0, 2]) {
      dv(fusion, blk).setBigUint64(64, 0x102n, true);
      reseal(fusion, blk);
    }
    await expect(mount(fusion)).rejects.toThrow(/Fusion/);
    const sealed = await mount(buildApfs([{ name: 'System', role: 1, sealed: true, entries: [] }]));
    await expect(sealed.stat('/')).rejects.toThrow(/sealed/);
    expect((await sealed.info()).volumes).toMatchObject([{ name: 'System', role: 'system', sealed: true }]);
  });

  it('a directory entry pointing back at its own directory (a loop) is corrupt, not an endless walk', async () => {
    const b = buildApfs([{ name: 'V', entries: [{ path: '/a', type: 'directory' }, { path: '/a/b', type: 'directory' }] }]);
    // Find the directory record "b" in the (single-leaf) tree and point it at /a (id 16).
    const c = await openContainer(new MemoryDevice(b, { readOnly: true }));
    const omap = await ObjectMap.open(c.store, c.volumes[0]!.omapOid, 'v');
    const leaf = await omap.resolve(c.volumes[0]!.rootTreeOid, c.sb.xid, 'root');
    const node = dv(b, leaf);
    const n = node.getUint32(36, true), tocLen = node.getUint16(42, true);
    let patched = false;
    for (let i = 0; i < n; i++) {
      const k = 56 + tocLen + node.getUint16(56 + i * 8, true);
      const type = node.getUint8(k + 7) >>> 4;
      const name = new TextDecoder().decode(b.subarray(leaf * BS + k + 10, leaf * BS + k + 11)); // plain (unhashed) key: u16 length, name
      if (type === 9 && name === 'b') {
        const v = BS - 40 - node.getUint16(56 + i * 8 + 4, true);
        node.setBigUint64(v, 16n, true);
        patched = true;
      }
    }
    expect(patched).toBe(true);
    reseal(b, leaf);
    const vol = await mount(b);
    await expect(vol.readdir('/a')).rejects.toThrow(/parent/);
    await expect(vol.stat('/a/b/b/b')).rejects.toThrow(/parent/);
  });

  it('through the CLI: ls -R names the damage on stderr, lists every readable entry and exits 1', async () => {
    const b = buildApfs([{ name: 'V', entries: [...many, { path: '/ok.txt', type: 'file', data: text('fine') }] }]);
    // A leaf in the middle of the tree holds only inodes of /d's files: /d is damaged, / is not.
    const c = await openContainer(new MemoryDevice(b, { readOnly: true }));
    const omap = await ObjectMap.open(c.store, c.volumes[0]!.omapOid, 'v');
    const root = await omap.resolve(c.volumes[0]!.rootTreeOid, c.sb.xid, 'root');
    const node = dv(b, root);
    const mid = Math.floor(node.getUint32(36, true) / 2);
    const oid = Number(node.getBigUint64(BS - 40 - node.getUint16(56 + mid * 8 + 4, true), true));
    b[(await omap.resolve(oid, c.sb.xid, 'leaf')) * BS + 300]! ^= 1;
    const dir = mkdtempSync(join(tmpdir(), 'diskit-apfs-hostile-'));
    try {
      const img = join(dir, 'damaged.img');
      writeFileSync(img, b);
      const r = diskit('ls', '-R', img);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/\/d.*Fletcher-64|Fletcher-64.*\/d/);
      // The damaged leaf held some of /d's inodes: those files are missing, every other entry is listed.
      const lines = r.stdout.split('\n').filter(Boolean);
      expect(lines).toContain('/ok.txt');
      expect(lines).toContain('/d');
      const inD = lines.filter((l) => l.startsWith('/d/')).length;
      expect(inD).toBeGreaterThan(200);
      expect(inD).toBeLessThan(300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a directory entry whose inode is missing makes readdir throw (never a silently shorter listing)', async () => {
    // (the error is a PartialDirectoryError carrying the readable entries: see the CLI test above)
    const b = good.slice();
    const { child } = await fsNodes(b);
    // Turn the first record of a leaf into a record type nothing reads (type 15): its inode vanishes.
    const node = dv(b, child);
    const koff = node.getUint16(56, true);
    const keyAt = 56 + node.getUint16(42, true) + koff;
    node.setUint8(keyAt + 7, (node.getUint8(keyAt + 7) & 0x0f) | 0xf0);
    reseal(b, child);
    const vol = await mount(b);
    const err = await (async () => {
      for await (const e of walk(vol)) void e;
    })().catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
  });
});
