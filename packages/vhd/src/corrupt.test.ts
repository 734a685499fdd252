/** Damaged images: typed errors, check() reports, fallbacks. */
import { beforeAll, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CorruptImageError, DiskitError, MemoryDevice, TruncatedImageError, type FormatDriver, type Image } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { vhdDriver, vhdxDriver, VhdImage, VhdxImage } from './index.js';
import { join, prng, scatteredRaw, tmp } from '../test/helpers.js';

const MiB = 1 << 20;

async function openMem(driver: FormatDriver, bytes: Uint8Array): Promise<Image> {
  return driver.open(new MemoryDevice(bytes, { readOnly: true }), { name: 'mem' });
}
async function readEverything(img: Image): Promise<Uint8Array> {
  const out = new Uint8Array(img.size);
  await img.read(out, 0);
  return out;
}
function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  c[at] ^= 0x5a;
  return c;
}
const be32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v);

describeWithTools(['qemu-img'], 'corrupt VHD images', () => {
  let dyn: Uint8Array;
  let fixed: Uint8Array;
  let raw: Uint8Array;
  beforeAll(() => {
    const dir = tmp();
    const r = join(dir, 'r.raw');
    scatteredRaw(r, 6 * MiB, [[0, 4096], [4 * MiB, 100_000]], 5);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'force_size=on', r, join(dir, 'd.vhd')]);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', r, join(dir, 'f.vhd')]);
    dyn = new Uint8Array(readFileSync(join(dir, 'd.vhd')));
    fixed = new Uint8Array(readFileSync(join(dir, 'f.vhd')));
    raw = new Uint8Array(readFileSync(r));
  });

  it('a damaged footer falls back to the copy at offset 0, and check() says so', async () => {
    const img = await openMem(vhdDriver, flip(dyn, dyn.length - 512 + 50));
    expect(Buffer.compare(await readEverything(img), raw)).toBe(0);
    const r = await img.check!();
    expect(r.problems.some((p) => p.severity === 'error' && /checksum/.test(p.message))).toBe(true);
  });

  it('a fixed VHD with a bad footer checksum opens, and check() reports it', async () => {
    const img = await openMem(vhdDriver, flip(fixed, fixed.length - 512 + 70));
    expect(img.variant).toBe('fixed');
    expect((await img.check!()).problems.map((p) => p.message).join()).toMatch(/checksum/);
  });

  it('no footer anywhere, a tiny file: typed errors', async () => {
    const noCookie = dyn.slice();
    noCookie.fill(0, 0, 8);
    noCookie.fill(0, noCookie.length - 512, noCookie.length - 504);
    await expect(openMem(vhdDriver, noCookie)).rejects.toThrow(CorruptImageError);
    await expect(openMem(vhdDriver, dyn.slice(0, 100))).rejects.toThrow(TruncatedImageError);
  });

  it('checksum policy: a bad footer or dynamic header checksum is a warning at open and an error in check()', async () => {
    // The footer at the end: the copy at offset 0 is used, and the open says so.
    const badFooter = await openMem(vhdDriver, flip(dyn, dyn.length - 512 + 50));
    expect(badFooter.warnings).toEqual([expect.objectContaining({ severity: 'warning', structure: 'VHD footer', offset: dyn.length - 512, message: expect.stringMatching(/^checksum 0x[0-9a-f]+ does not match the computed 0x[0-9a-f]+; using the copy at offset 0$/) })]);
    // The dynamic header has no copy: used as it is (its fields still checked), never fatal.
    const img = await openMem(vhdDriver, flip(dyn, 512 + 40));
    expect(img.warnings).toEqual([expect.objectContaining({ severity: 'warning', structure: 'VHD dynamic header', offset: 512, message: expect.stringMatching(/^checksum /) })]);
    expect(Buffer.compare(await readEverything(img), raw)).toBe(0);
    const r = await img.check!();
    expect(r.problems).toContainEqual(expect.objectContaining({ severity: 'error', structure: 'VHD dynamic header', offset: 512 }));
    // A sound image warns of nothing.
    expect((await openMem(vhdDriver, dyn)).warnings).toEqual([]);
    expect((await openMem(vhdDriver, fixed)).warnings).toEqual([]);
  });

  it('a BAT entry past the end of the file: reads fail typed, check() reports', async () => {
    const b = dyn.slice();
    const img0 = (await openMem(vhdDriver, b)) as VhdImage;
    const table = img0.header!.tableOffset;
    be32(b, table + 4 * 2, 0x00100000); // block 2 at 512 MiB
    const img = await openMem(vhdDriver, b);
    await expect(img.read(new Uint8Array(512), 2 * 2 * MiB)).rejects.toThrow(TruncatedImageError);
    const r = await img.check!();
    expect(r.problems.some((p) => /past the end/.test(p.message))).toBe(true);
  });

  it('overlapping BAT entries are reported', async () => {
    const b = dyn.slice();
    const img0 = (await openMem(vhdDriver, b)) as VhdImage;
    const table = img0.header!.tableOffset;
    be32(b, table + 4 * 1, img0.bat![0]!); // block 1 reuses block 0's place
    const r = await (await openMem(vhdDriver, b)).check!();
    expect(r.problems.some((p) => /overlaps block/.test(p.message))).toBe(true);
    const c = dyn.slice();
    be32(c, table, 1); // block 0 at offset 512: on top of the dynamic header
    const r2 = await (await openMem(vhdDriver, c)).check!();
    expect(r2.problems.map((p) => p.message).join()).toMatch(/overlaps the dynamic header/);
  });

  it('a truncated dynamic VHD opens from the footer copy; lost blocks read as typed errors', async () => {
    const cut = dyn.slice(0, dyn.length - 512 - 1024 * 1024);
    const img = await openMem(vhdDriver, cut);
    await expect(readEverything(img)).rejects.toThrow(TruncatedImageError);
    expect((await img.check!()).problems.length).toBeGreaterThan(0);
  });

  it('random damage to the metadata only ever gives DiskitErrors', async () => {
    for (let i = 0; i < 300; i++) {
      const b = dyn.slice();
      const noise = prng(i + 1, 8);
      for (let k = 0; k < 4; k++) {
        const where = k % 2 ? b.length - 512 + (noise[k]! * 2) % 512 : (noise[k]! * 7 + noise[k + 4]! * 11) % 4096;
        b[where] = noise[k + 4]!;
      }
      try {
        const img = await openMem(vhdDriver, b);
        await readEverything(img);
        await img.check!();
        await img.inspect();
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(DiskitError);
      }
    }
  });
});

describeWithTools(['qemu-img', 'qemu-io'], 'corrupt VHDX images', () => {
  let img: Uint8Array;
  beforeAll(() => {
    const dir = tmp();
    const p = join(dir, 'x.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', p, '6M']);
    run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 7 0 1M', '-c', 'write -P 9 3M 64k', p]);
    img = new Uint8Array(readFileSync(p));
  });

  it('one bad header or region table is survivable and reported; a bad CRC on both is a warning; no signature in either is a CorruptImageError', async () => {
    const one = flip(img, 64 * 1024 + 100);
    const i1 = await openMem(vhdxDriver, one);
    expect(i1.warnings).toEqual([expect.objectContaining({ severity: 'warning', structure: 'VHDX header', offset: 64 * 1024, message: expect.stringMatching(/^header 1: CRC32C .* using header 2$/) })]);
    expect((await i1.check!()).problems.some((p) => p.structure === 'VHDX header')).toBe(true);
    // Both CRCs bad but both signatures right: the newer header is used as it is, with a warning for each copy.
    const both = await openMem(vhdxDriver, flip(one, 128 * 1024 + 100));
    expect(both.warnings!.map((w) => w.offset)).toEqual([64 * 1024, 128 * 1024]);
    expect((await both.check!()).problems.filter((p) => p.structure === 'VHDX header' && p.severity === 'error')).toHaveLength(2);
    expect(Buffer.compare(await readEverything(both), await readEverything(await openMem(vhdxDriver, img)))).toBe(0);
    const noHead = flip(flip(img, 64 * 1024), 128 * 1024);
    await expect(openMem(vhdxDriver, noHead).then(() => 'opened')).rejects.toThrow(/VHDX header/);
    const r1 = flip(img, 192 * 1024 + 20);
    expect((await (await openMem(vhdxDriver, r1)).check!()).problems.some((p) => p.structure === 'VHDX region table')).toBe(true);
    // Both region tables damaged in the entry that names the BAT: damage, never an "unsupported feature".
    await expect(openMem(vhdxDriver, flip(r1, 256 * 1024 + 20)).then(() => 'opened')).rejects.toThrow(/VHDX region table/);
    const rBoth = await openMem(vhdxDriver, flip(flip(img, 192 * 1024 + 12), 256 * 1024 + 12));
    expect(rBoth.warnings!.map((w) => w.structure)).toEqual(['VHDX region table', 'VHDX region table']);
    await expect(openMem(vhdxDriver, flip(flip(img, 192 * 1024), 256 * 1024)).then(() => 'opened')).rejects.toThrow(/VHDX region table/);
    await expect(openMem(vhdxDriver, flip(img, 0)).then(() => 'opened')).rejects.toThrow(CorruptImageError);
    expect((await openMem(vhdxDriver, img)).warnings).toEqual([]);
  });

  it('a BAT entry past the end of the file: reads fail typed, check() reports', async () => {
    const b = img.slice();
    const v = (await openMem(vhdxDriver, b)) as VhdxImage;
    new DataView(b.buffer).setBigUint64(v.batOffset + 8 * 3, (4096n << 20n) | 6n, true);
    const bad = await openMem(vhdxDriver, b);
    await expect(bad.read(new Uint8Array(512), 3 * MiB)).rejects.toThrow(TruncatedImageError);
    expect((await bad.check!()).problems.some((p) => /past the end/.test(p.message))).toBe(true);
  });

  it('a truncated VHDX is a TruncatedImageError', async () => {
    await expect(openMem(vhdxDriver, img.slice(0, 200 * 1024))).rejects.toThrow(TruncatedImageError);
    const cut = await openMem(vhdxDriver, img.slice(0, img.length - 2 * MiB)).catch((e) => e);
    if (cut instanceof Error) expect(cut).toBeInstanceOf(TruncatedImageError);
    else await expect(readEverything(cut)).rejects.toThrow(TruncatedImageError);
  });

  it('metadata items: unknown ones are never read (bounded reads however many the table lists), a known one listed twice is a CorruptImageError', async () => {
    const metaAt = 3 * MiB; // qemu's layout: BAT at 2 MiB, metadata at 3 MiB
    expect(Buffer.from(img.subarray(metaAt, metaAt + 8)).toString('latin1')).toBe('metadata');
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset);
    const count = dv(img).getUint16(metaAt + 10, true);
    // 100 unknown, optional items of 960 KiB each (all overlapping): 94 MiB if they were read.
    const many = img.slice();
    dv(many).setUint16(metaAt + 10, count + 100, true);
    for (let i = 0; i < 100; i++) {
      const o = metaAt + 32 + (count + i) * 32;
      many.fill(0x11 + (i % 200), o, o + 16);
      dv(many).setUint32(o + 16, 64 * 1024, true);
      dv(many).setUint32(o + 20, 960 * 1024, true);
      dv(many).setUint32(o + 24, 0, true);
    }
    let bytesRead = 0;
    class Counting extends MemoryDevice {
      override async read(into: Uint8Array, offset: number): Promise<void> {
        bytesRead += into.length;
        return super.read(into, offset);
      }
    }
    const x = await vhdxDriver.open(new Counting(many, { readOnly: true }), { name: 'mem' });
    expect(bytesRead).toBeLessThan(8 * MiB);
    expect((await x.inspect()).structures.find((s) => s.name === 'metadata table')!.fields.entries).toBe(count + 100);
    // The file parameters item listed a second time.
    const twice = img.slice();
    dv(twice).setUint16(metaAt + 10, count + 1, true);
    twice.copyWithin(metaAt + 32 + count * 32, metaAt + 32, metaAt + 64);
    await expect(openMem(vhdxDriver, twice).then(() => 'opened')).rejects.toThrow(/VHDX metadata entry.*listed once/);
  });

  it('random damage to the first 4 MiB only ever gives DiskitErrors', async () => {
    for (let i = 0; i < 200; i++) {
      const b = img.slice();
      const noise = prng(i + 1000, 16);
      for (let k = 0; k < 8; k++) {
        // Mostly the regions, metadata and BAT at 2–4 MiB (qemu's layout), some in the headers.
        const base = [64 * 1024, 192 * 1024, 2 * MiB, 3 * MiB][k % 4]!;
        b[base + ((noise[k]! << 8) | noise[k + 8]!) % 256] = noise[(k + 3) % 16]!;
      }
      try {
        const x = await openMem(vhdxDriver, b);
        await readEverything(x);
        await x.check!();
        await x.inspect();
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(DiskitError);
      }
    }
  });
});

describeWithTools(['qemu-img', 'qemu-io'], 'check --repair', () => {
  it('VHD: a damaged footer is rewritten from the copy; qemu-img reads the repaired file', async () => {
    const { writeFileSync, readFileSync: rf } = await import('node:fs');
    const { openWith } = await import('../test/helpers.js');
    const dir = tmp();
    const p = join(dir, 'f.vhd');
    run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'force_size=on', p, '4M']);
    run('qemu-io', ['-f', 'vpc', '-c', 'write -P 5 1M 4k', p]);
    const good = rf(p);
    const bad = new Uint8Array(good);
    bad.fill(0, bad.length - 512, bad.length - 400); // cookie and size gone
    writeFileSync(p, bad);
    const { image, close } = await openWith(vhdDriver, p, true);
    const r = await image.check!({ repair: true });
    expect(r.repaired?.join()).toMatch(/rewrote the footer/);
    expect(r.problems).toEqual([]);
    await close();
    expect(Buffer.compare(rf(p), good)).toBe(0);
  });

  it('VHDX: a bad header and a bad region table are rewritten; qemu-img check passes', async () => {
    const { writeFileSync, readFileSync: rf } = await import('node:fs');
    const { openWith, qemuRaw } = await import('../test/helpers.js');
    const dir = tmp();
    const p = join(dir, 'x.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', p, '4M']);
    run('qemu-io', ['-f', 'vhdx', '-c', 'write -P 5 1M 4k', p]);
    const before = qemuRaw(p, 'vhdx', dir);
    const b = new Uint8Array(rf(p));
    b[64 * 1024 + 200] ^= 1;
    b[256 * 1024 + 40] ^= 1;
    writeFileSync(p, b);
    const { image, close } = await openWith(vhdxDriver, p, true);
    const r = await image.check!({ repair: true });
    expect(r.repaired).toHaveLength(2);
    expect(r.problems).toEqual([]);
    await close();
    run('qemu-img', ['check', '-f', 'vhdx', p]);
    expect(Buffer.compare(qemuRaw(p, 'vhdx', dir), before)).toBe(0);
    const again = await openWith(vhdxDriver, p);
    expect((await again.image.check!()).problems).toEqual([]);
    await again.close();
  });
});
