/** Differencing VHD chains: created by createDifferencing, written through the image, read back and by 7-Zip. */
import { beforeAll, expect, it } from 'vitest';
import { readFileSync, readdirSync, mkdtempSync, openSync, writeSync, closeSync, fstatSync, copyFileSync, writeFileSync } from 'node:fs';
import { CorruptImageError, collectExtents } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { createDifferencing, vhdDriver, VhdImage, parseVhdFooter, footerBytesOf } from './index.js';
import { join, openWith, prng, readAll, scatteredRaw, tmp } from '../test/helpers.js';

const MiB = 1 << 20;

async function makeChild(dir: string, parentName: string, childName: string, opts: { blockSize?: number } = {}): Promise<void> {
  const { image, close } = await openWith(vhdDriver, join(dir, parentName));
  const out = await AtomicOutput.create(join(dir, childName), { force: true });
  await createDifferencing(parentName, image, out, { ...opts, absolutePath: join(dir, parentName) });
  await out.commit();
  await close();
}

async function writeInto(path: string, writes: [number, Uint8Array][], expected: Buffer): Promise<void> {
  const { image, close } = await openWith(vhdDriver, path, true);
  for (const [off, data] of writes) {
    await image.write(data, off);
    expected.set(data, off);
  }
  await image.flush();
  await close();
}

/** Rewrite a VHD's footer (both copies) with some fields changed, checksums recomputed. */
function patchFooter(path: string, change: (f: ReturnType<typeof parseVhdFooter>) => void): void {
  const fd = openSync(path, 'r+');
  const size = fstatSync(fd).size;
  const b = readFileSync(path).subarray(size - 512);
  const f = parseVhdFooter(b);
  change(f);
  const nb = footerBytesOf(f);
  writeSync(fd, nb, 0, 512, size - 512);
  writeSync(fd, nb, 0, 512, 0);
  closeSync(fd);
}

describeWithTools(['qemu-img', '7z'], 'differencing VHD chains', () => {
  let dir: string;
  const rawSize = 12 * MiB;
  let size: number;
  let expected: Buffer;
  beforeAll(async () => {
    dir = tmp();
    const raw = join(dir, 'base.raw');
    scatteredRaw(raw, rawSize, [[0, 65536], [3 * MiB, MiB], [rawSize - 4096, 4096]], 3);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, join(dir, 'base.vhd')]);
    // qemu rounds the size up to a CHS geometry.
    size = JSON.parse(run('qemu-img', ['info', '--output=json', '-f', 'vpc', join(dir, 'base.vhd')]))['virtual-size'];
    expected = Buffer.alloc(size);
    readFileSync(raw).copy(expected);
    // Level 2: writes at sector and sub-sector granularity, across block boundaries.
    await makeChild(dir, 'base.vhd', 'mid.vhd');
    await writeInto(join(dir, 'mid.vhd'), [
      [100, prng(50, 1000)],
      [2 * MiB - 700, prng(51, 5000)],
      [3 * MiB + 4096, prng(52, 8192)],
      [9 * MiB, prng(53, 512)],
    ], expected);
    // Level 3 with a different block size, over the middle one.
    await makeChild(dir, 'mid.vhd', 'top.vhd', { blockSize: 1 * MiB });
    await writeInto(join(dir, 'top.vhd'), [
      [0, prng(60, 300)],
      [2 * MiB - 100, prng(61, 200)],
      [7 * MiB + 3, prng(62, 70_000)],
    ], expected);
  });

  it('reads the three-level chain as the applied writes, and as 7-Zip flattens it', async () => {
    const { image, close } = await openWith(vhdDriver, join(dir, 'top.vhd'));
    expect(image.variant).toBe('differencing');
    expect(image.size).toBe(size);
    const ours = await readAll(image);
    expect(Buffer.compare(ours, expected)).toBe(0);
    const info = await image.info!();
    expect(info.parent).toMatchObject({ name: 'mid.vhd', variant: 'differencing' });
    // Every non-zero byte lies in a data extent; extents below come from the parents.
    const ex = await collectExtents(image);
    for (let o = 0; o < size; o += 512) {
      if (ours.subarray(o, o + 512).some((b) => b !== 0)) expect(ex.some((e) => e.kind === 'data' && e.offset <= o && o < e.offset + e.length)).toBe(true);
    }
    expect((await image.check!()).problems.filter((p) => p.severity === 'error')).toEqual([]);
    await close();
    const x = mkdtempSync(join(dir, '7z-'));
    run('7z', ['x', '-y', `-o${x}`, join(dir, 'top.vhd')]);
    const files = readdirSync(x);
    expect(files).toHaveLength(1);
    expect(Buffer.compare(readFileSync(join(x, files[0]!)), expected)).toBe(0);
  });

  it('diskit-written dynamic VHD of the chain matches qemu-img reading it', async () => {
    const { image, close } = await openWith(vhdDriver, join(dir, 'top.vhd'));
    const out = await AtomicOutput.create(join(dir, 'flat.vhd'), { force: true });
    await vhdDriver.create!(image, out, {});
    await out.commit();
    await close();
    writeFileSync(join(dir, 'expected.raw'), expected);
    run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', join(dir, 'flat.vhd'), join(dir, 'expected.raw')]);
  });

  it('writes through dynamic and fixed VHDs land where qemu-img reads them', async () => {
    for (const sub of ['dynamic', 'fixed']) {
      const p = join(dir, `w-${sub}.vhd`);
      run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', `subformat=${sub},force_size=on`, p, '6M']);
      const exp = Buffer.alloc(6 * MiB);
      await writeInto(p, [[1000, prng(70, 3000)], [2 * MiB - 10, prng(71, 20)], [5 * MiB, prng(72, MiB)]], exp);
      writeFileSync(join(dir, 'w.raw'), exp);
      run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', p, join(dir, 'w.raw')]);
      const { image, close } = await openWith(vhdDriver, p);
      expect((await image.check!()).problems).toEqual([]);
      await close();
    }
  });

  it('a parent whose unique id does not match is a CorruptImageError', async () => {
    const d2 = mkdtempSync(join(dir, 'mismatch-'));
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(d2, 'base.vhd'), '4M']);
    await makeChild(d2, 'base.vhd', 'child.vhd');
    // Replace the parent with another disk of the same name.
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(d2, 'base.vhd'), '4M']);
    await expect(openWith(vhdDriver, join(d2, 'child.vhd'))).rejects.toThrow(CorruptImageError);
    await expect(openWith(vhdDriver, join(d2, 'child.vhd'))).rejects.toThrow(/parent unique id/);
  });

  it('a missing parent is a typed error', async () => {
    const d2 = mkdtempSync(join(dir, 'missing-'));
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(d2, 'base.vhd'), '4M']);
    await makeChild(d2, 'base.vhd', 'child.vhd');
    copyFileSync(join(d2, 'child.vhd'), join(dir, 'orphan-child.vhd'));
    // No parent beside the copy, and the absolute locator is renamed away.
    run('mv', [join(d2, 'base.vhd'), join(d2, 'gone.vhd')]);
    await expect(openWith(vhdDriver, join(dir, 'orphan-child.vhd'))).rejects.toThrow(CorruptImageError);
  });

  it('a cyclic parent chain is a CorruptImageError, not a hang', async () => {
    const d2 = mkdtempSync(join(dir, 'cycle-'));
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(d2, 'A.vhd'), '4M']);
    const { image: a0, close: c0 } = await openWith(vhdDriver, join(d2, 'A.vhd'));
    const idA = (a0 as VhdImage).footer.uniqueId;
    await c0();
    await makeChild(d2, 'A.vhd', 'B.vhd'); // B → A
    await makeChild(d2, 'B.vhd', 'A2.vhd'); // A2 → B
    copyFileSync(join(d2, 'A2.vhd'), join(d2, 'A.vhd'));
    patchFooter(join(d2, 'A.vhd'), (f) => { f.uniqueId = idA; }); // now A → B → A
    const err = await openWith(vhdDriver, join(d2, 'A.vhd')).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(String(err.message)).toMatch(/acyclic/);
    // A self-parent too.
    const d3 = mkdtempSync(join(dir, 'self-'));
    run('qemu-img', ['create', '-q', '-f', 'vpc', join(d3, 'S.vhd'), '4M']);
    const { image: s0, close: cs } = await openWith(vhdDriver, join(d3, 'S.vhd'));
    const idS = (s0 as VhdImage).footer.uniqueId;
    await cs();
    await makeChild(d3, 'S.vhd', 'S2.vhd');
    copyFileSync(join(d3, 'S2.vhd'), join(d3, 'S.vhd'));
    patchFooter(join(d3, 'S.vhd'), (f) => { f.uniqueId = idS; });
    await expect(openWith(vhdDriver, join(d3, 'S.vhd'))).rejects.toThrow(/acyclic/);
  });
});
