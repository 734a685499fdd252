/** Differencing VHDX: chains made by createDifferencingVhdx and written through diskit, read back and by 7-Zip. */
import { beforeAll, expect, it } from 'vitest';
import { readFileSync, readdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { CorruptImageError, collectExtents } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { createDifferencingVhdx, vhdxDriver, VhdxImage } from './index.js';
import { join, openWith, prng, readAll, scatteredRaw, tmp } from '../test/helpers.js';

const MiB = 1 << 20;

async function makeChild(dir: string, parentName: string, childName: string): Promise<void> {
  const { image, close } = await openWith(vhdxDriver, join(dir, parentName));
  const out = await AtomicOutput.create(join(dir, childName), { force: true });
  await createDifferencingVhdx(parentName, image, out, { absolutePath: join(dir, parentName) });
  await out.commit();
  await close();
}

async function writeInto(path: string, writes: [number, Uint8Array][], expected: Buffer): Promise<void> {
  const { image, close } = await openWith(vhdxDriver, path, true);
  for (const [off, data] of writes) {
    await image.write(data, off);
    expected.set(data, off);
  }
  await image.flush();
  await close();
}

describeWithTools(['qemu-img', '7z'], 'differencing VHDX chains', () => {
  let dir: string;
  const size = 10 * MiB; // 7-Zip wants bit 9 of the size clear
  let expected: Buffer;
  beforeAll(async () => {
    dir = tmp();
    const raw = join(dir, 'base.raw');
    scatteredRaw(raw, size, [[0, 65536], [3 * MiB, MiB], [size - 4096, 4096]], 4);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', raw, join(dir, 'base.vhdx')]);
    expected = Buffer.from(readFileSync(raw));
    await makeChild(dir, 'base.vhdx', 'mid.vhdx');
    await writeInto(join(dir, 'mid.vhdx'), [[100, prng(50, 1000)], [MiB - 700, prng(51, 5000)], [3 * MiB + 4096, prng(52, 8192)], [7 * MiB, prng(53, 512)]], expected);
    await makeChild(dir, 'mid.vhdx', 'top.vhdx');
    await writeInto(join(dir, 'top.vhdx'), [[0, prng(60, 300)], [MiB - 100, prng(61, 200)], [5 * MiB + 3, prng(62, 70_000)]], expected);
  });

  it('reads a three-level chain as the applied writes, and as 7-Zip flattens it', async () => {
    const { image, close } = await openWith(vhdxDriver, join(dir, 'top.vhdx'));
    expect(image.variant).toBe('differencing');
    const ours = await readAll(image);
    expect(Buffer.compare(ours, expected)).toBe(0);
    const ex = await collectExtents(image);
    for (let o = 0; o < size; o += 512) {
      if (ours.subarray(o, o + 512).some((b) => b !== 0)) expect(ex.some((e) => e.kind === 'data' && e.offset <= o && o < e.offset + e.length)).toBe(true);
    }
    expect((await image.check!()).problems).toEqual([]);
    await close();
    const x = mkdtempSync(join(dir, '7z-'));
    run('7z', ['x', '-y', `-o${x}`, join(dir, 'top.vhdx')]);
    const files = readdirSync(x);
    expect(files).toHaveLength(1);
    expect(Buffer.compare(readFileSync(join(x, files[0]!)), expected)).toBe(0);
  });

  it('writes into a dynamic VHDX land where qemu-img reads them', async () => {
    const p = join(dir, 'w.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', p, '6M']);
    const exp = Buffer.alloc(6 * MiB);
    await writeInto(p, [[1000, prng(70, 3000)], [2 * MiB - 10, prng(71, 20)], [5 * MiB, prng(72, MiB)]], exp);
    writeFileSync(join(dir, 'w.raw'), exp);
    run('qemu-img', ['check', '-f', 'vhdx', p]);
    run('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', p, join(dir, 'w.raw')]);
    // Each BAT change went through the log, which is empty again afterwards.
    const { image, close } = await openWith(vhdxDriver, p);
    const v = image as VhdxImage;
    expect(v.header.logGuid).toBe('00000000-0000-0000-0000-000000000000');
    expect(v.header.sequenceNumber).toBeGreaterThan(10n);
    expect((await image.check!()).problems).toEqual([]);
    await close();
  });

  it('a parent whose DataWriteGuid changed is a CorruptImageError', async () => {
    const d2 = mkdtempSync(join(dir, 'link-'));
    run('qemu-img', ['create', '-q', '-f', 'vhdx', join(d2, 'b.vhdx'), '4M']);
    await makeChild(d2, 'b.vhdx', 'c.vhdx');
    await writeInto(join(d2, 'b.vhdx'), [[0, prng(1, 512)]], Buffer.alloc(4 * MiB)); // changes b's DataWriteGuid
    await expect(openWith(vhdxDriver, join(d2, 'c.vhdx'))).rejects.toThrow(CorruptImageError);
    const { image, close } = await openWith(vhdxDriver, join(dir, 'mid.vhdx'));
    expect((image as VhdxImage).parentLocator?.entries.relative_path).toBe('.\\base.vhdx');
    await close();
  });
});

describeWithTools(['qemu-img'], 'VHD parent locators', () => {
  it('a child moved away from its parent finds it through the absolute (W2ku) locator', async () => {
    const { createDifferencing, vhdDriver } = await import('./index.js');
    const { renameSync, mkdirSync } = await import('node:fs');
    const dir = tmp();
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(dir, 'p.vhd'), '4M']);
    const { image, close } = await openWith(vhdDriver, join(dir, 'p.vhd'));
    const out = await AtomicOutput.create(join(dir, 'c.vhd'));
    await createDifferencing('p.vhd', image, out, { absolutePath: join(dir, 'p.vhd') });
    await out.commit();
    await close();
    mkdirSync(join(dir, 'elsewhere'));
    renameSync(join(dir, 'c.vhd'), join(dir, 'elsewhere', 'c.vhd'));
    const c = await openWith(vhdDriver, join(dir, 'elsewhere', 'c.vhd'));
    expect((await c.image.info!()).parent).toMatchObject({ name: join(dir, 'p.vhd') });
    await c.close();
  });
});

describeWithTools(['qemu-img'], 'VHDX structures', () => {
  it('headers, region tables and parent locators decode → encode byte-exact', async () => {
    const { parseVhdxHeader, encodeVhdxHeader, parseRegionTable, encodeRegionTable, parseParentLocator, encodeParentLocator } = await import('./index.js');
    const dir = tmp();
    run('qemu-img', ['create', '-q', '-f', 'vhdx', join(dir, 'e.vhdx'), '5M']);
    const b = readFileSync(join(dir, 'e.vhdx'));
    for (const off of [64 * 1024, 128 * 1024]) {
      const h = b.subarray(off, off + 4096);
      expect(Buffer.compare(encodeVhdxHeader(parseVhdxHeader(h)), h)).toBe(0);
    }
    const rt = b.subarray(192 * 1024, 256 * 1024);
    expect(Buffer.compare(encodeRegionTable(parseRegionTable(rt, 0).entries), rt)).toBe(0);
    const loc = encodeParentLocator({ parent_linkage: '{0b6f1a8c-0000-4000-8000-000000000001}', relative_path: '.\\a.vhdx' });
    expect(parseParentLocator(loc, 0).entries.relative_path).toBe('.\\a.vhdx');
    expect(Buffer.compare(encodeParentLocator(parseParentLocator(loc, 0).entries), loc)).toBe(0);
  });
});

describeWithTools(['qemu-img'], 'VHDX parent chains', () => {
  it('a cyclic chain is a CorruptImageError, not a hang', async () => {
    const { parseVhdxHeader, encodeVhdxHeader } = await import('./index.js');
    const { copyFileSync, openSync, writeSync, closeSync } = await import('node:fs');
    const dir = tmp();
    run('qemu-img', ['create', '-q', '-f', 'vhdx', join(dir, 'A.vhdx'), '4M']);
    const { image: a, close } = await openWith(vhdxDriver, join(dir, 'A.vhdx'));
    const guidA = (a as VhdxImage).header.dataWriteGuid;
    await close();
    await makeChild(dir, 'A.vhdx', 'B.vhdx'); // B → A
    await makeChild(dir, 'B.vhdx', 'A2.vhdx'); // A2 → B
    copyFileSync(join(dir, 'A2.vhdx'), join(dir, 'A.vhdx'));
    // Give the new A the old A's DataWriteGuid: now A → B → A.
    const bytes = readFileSync(join(dir, 'A.vhdx'));
    const fd = openSync(join(dir, 'A.vhdx'), 'r+');
    for (const off of [64 * 1024, 128 * 1024]) {
      const h = parseVhdxHeader(bytes.subarray(off, off + 4096));
      writeSync(fd, encodeVhdxHeader({ ...h, dataWriteGuid: guidA }), 0, 4096, off);
    }
    closeSync(fd);
    const err = await openWith(vhdxDriver, join(dir, 'A.vhdx')).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(String(err.message)).toMatch(/acyclic/);
  });
});
