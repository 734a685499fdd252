/** Images diskit writes: qemu-img check/compare/info, 7z t, and round trips. */
import { beforeAll, expect, it } from 'vitest';
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { FileDevice } from '@diskit/core/node';
import { MemoryDevice, UsageError } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { vhdDriver, vhdxDriver, VhdImage, VhdxImage, vhdCreateParams, vhdGeometry, footerBytesOf, parseVhdFooter, vhdVirtualSize, encodeVhdFooter, parseVhdDynamicHeader, encodeVhdDynamicHeader } from './index.js';
import { createWith, join, openWith, qemuInfo, qemuMap, dataRanges, ourDataRanges, qemuRaw, readAll, scatteredRaw, tmp } from '../test/helpers.js';

const MiB = 1 << 20;

function qemuCheck(path: string, fmt: string): void {
  run('qemu-img', ['check', '-f', fmt, path]);
}
function qemuCompare(a: string, fa: string, b: string, fb: string): void {
  run('qemu-img', ['compare', '-f', fa, '-F', fb, a, b]);
}
function sevenZipTest(path: string): void {
  const r = spawnSync('7z', ['t', path], { encoding: 'utf8' });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('Everything is Ok');
}

/** The disk 7-Zip extracts from an image. */
function sevenZipExtract(path: string, dir: string): Buffer {
  const out = mkdtempSync(join(dir, '7z-'));
  run('7z', ['x', '-y', `-o${out}`, path]);
  const files = readdirSync(out);
  expect(files).toHaveLength(1);
  return readFileSync(join(out, files[0]!));
}

describeWithTools(['qemu-img', '7z'], 'writing VHD and VHDX', () => {
  let dir: string;
  let raw: string;
  let raw4k: string;
  // For 4 KiB logical sectors: rounds up to 13 MiB + 8 KiB (7-Zip tests bit 12 of the size the same odd way).
  const size4k = 13 * MiB + 8192 - 1536;
  // Not a whole number of blocks, not CHS-exact. (7-Zip 26.02 rejects VHDX sizes with bit 9 set —
  // it tests `size & 512` instead of `size & 511` — so keep that bit clear.)
  const size = 13 * MiB + 6 * 512;
  beforeAll(() => {
    dir = tmp();
    raw = join(dir, 'src.raw');
    raw4k = join(dir, 'src4k.raw');
    scatteredRaw(raw4k, size4k, [[0, 512], [5 * MiB, 2 * MiB + 4096], [size4k - 1000, 1000]], 9);
    scatteredRaw(raw, size, [[0, 512], [3 * MiB - 100, 300], [5 * MiB, 2 * MiB + 4096], [size - 4096, 4096]], 7);
  });

  const variants: [string, typeof vhdDriver, string, Record<string, string>][] = [
    ['vhd dynamic (default)', vhdDriver, 'vpc', {}],
    ['vhd dynamic 1M blocks', vhdDriver, 'vpc', { block_size: '1M' }],
    ['vhd dynamic 32M blocks', vhdDriver, 'vpc', { block_size: '32M' }],
    ['vhd fixed', vhdDriver, 'vpc', { subformat: 'fixed' }],
    ['vhdx dynamic (default 32M)', vhdxDriver, 'vhdx', {}],
    ['vhdx dynamic 1M blocks', vhdxDriver, 'vhdx', { block_size: '1M' }],
    ['vhdx dynamic 2M blocks, 4K logical sectors', vhdxDriver, 'vhdx', { block_size: '2M', logical_sector_size: '4096' }],
    ['vhdx fixed', vhdxDriver, 'vhdx', { subformat: 'fixed', block_size: '2M' }],
    ['vhdx dynamic with a 4 MiB log', vhdxDriver, 'vhdx', { block_size: '2M', log_size: '4M' }],
    ['vhdx fixed 4K logical sectors', vhdxDriver, 'vhdx', { subformat: 'fixed', block_size: '1M', logical_sector_size: '4096' }],
  ];

  for (const [name, driver, fmt, options] of variants) {
    it(`${name}: qemu-img check/compare/info agree, 7z tests it, reads back identically`, async () => {
      const out = join(dir, `${name.replace(/\W+/g, '_')}.${driver.name}`);
      const is4k = options.logical_sector_size === '4096';
      const src = await FileDevice.open(is4k ? raw4k : raw);
      await createWith(driver, src, out, options);
      await src.close();
      const expected = Buffer.alloc(is4k ? Math.ceil(size4k / 4096) * 4096 : size);
      readFileSync(is4k ? raw4k : raw).copy(expected);
      if (options.logical_sector_size !== '4096') {
        // qemu (7.2) opens only 512-byte-sector VHDX images.
        if (fmt === 'vhdx') qemuCheck(out, fmt); // qemu-img check does not support vpc
        qemuCompare(raw, 'raw', out, fmt);
        expect(qemuInfo(out, fmt)['virtual-size']).toBe(size);
        const fromQemu = qemuRaw(out, fmt, dir);
        expect(Buffer.compare(fromQemu, expected)).toBe(0);
      }
      sevenZipTest(out);
      expect(Buffer.compare(sevenZipExtract(out, dir), expected)).toBe(0);
      const { image, close } = await openWith(driver, out);
      expect(Buffer.compare(await readAll(image), expected)).toBe(0);
      expect((await image.check!()).problems).toEqual([]);
      if (fmt === 'vpc' && image.variant === 'dynamic') expect(await ourDataRanges(image)).toEqual(dataRanges(qemuMap(out, fmt)));
      await close();
    });
  }

  it('dynamic images allocate only blocks that hold data, written in order after the BAT', async () => {
    const out = join(dir, 'sparse.vhd');
    const src = await FileDevice.open(raw);
    await createWith(vhdDriver, src, out, { block_size: '1M' });
    await src.close();
    const { image, close } = await openWith(vhdDriver, out);
    const v = image as VhdImage;
    const allocated = [...v.bat!].map((e, i) => [i, e] as const).filter(([, e]) => e !== 0xffffffff);
    // Data at blocks 0, 2-3 (a run across the boundary), 5-7 and 12-13 (the last 4 KiB).
    expect(allocated.map(([i]) => i)).toEqual([0, 2, 3, 5, 6, 7, 12, 13]);
    const offsets = allocated.map(([, e]) => e * 512);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    await close();
  });

  it('size options: exact by default (qem2), chs=on rounds like qemu, align=1M pads', async () => {
    const odd = 10 * MiB + 1234 * 512;
    const mem = new MemoryDevice(odd);
    const dflt = join(dir, 'exact.vhd');
    await createWith(vhdDriver, mem as never, dflt, { subformat: 'fixed' });
    expect(qemuInfo(dflt, 'vpc')['virtual-size']).toBe(odd);
    const chs = join(dir, 'chs.vhd');
    await createWith(vhdDriver, mem as never, chs, { chs: 'on' });
    // qemu-img create rounds the same size the same way.
    const q = join(dir, 'q.vhd');
    run('qemu-img', ['create', '-q', '-f', 'vpc', q, String(odd)]);
    expect(qemuInfo(chs, 'vpc')['virtual-size']).toBe(qemuInfo(q, 'vpc')['virtual-size']);
    const { image: qi, close: qc } = await openWith(vhdDriver, q);
    const { image: ci, close: cc } = await openWith(vhdDriver, chs);
    const qf = (qi as VhdImage).footer, cf = (ci as VhdImage).footer;
    expect([cf.cylinders, cf.heads, cf.sectorsPerTrack, cf.currentSize]).toEqual([qf.cylinders, qf.heads, qf.sectorsPerTrack, qf.currentSize]);
    await qc(); await cc();
    const al = join(dir, 'azure.vhd');
    await createWith(vhdDriver, mem as never, al, { subformat: 'fixed', align: '1M' });
    expect(qemuInfo(al, 'vpc')['virtual-size']).toBe(11 * MiB);
    expect(vhdCreateParams(odd, { align: '1M' }).size % MiB).toBe(0);
    expect(() => vhdCreateParams(odd, { bogus: '1' })).toThrow(UsageError);
    expect(() => vhdCreateParams(odd, { block_size: '3M' })).toThrow(UsageError);
  });

  it('the creator app decides between CHS and current_size, as in qemu', () => {
    const base = parseVhdFooter(footerBytesOf({
      cookie: 'conectix', features: 2, version: 0x10000, dataOffset: 512n, timestamp: 0, creatorApp: 'vpc ', creatorVersion: 0,
      creatorHostOs: 'Wi2k', originalSize: 0, currentSize: 10 * MiB + 512, cylinders: 301, heads: 4, sectorsPerTrack: 17,
      diskType: 3, checksum: 0, uniqueId: '00000000-0000-0000-0000-000000000001', savedState: 0,
    }));
    const size = (app: string, geo?: [number, number, number]) => vhdVirtualSize({ ...base, creatorApp: app, ...(geo ? { cylinders: geo[0], heads: geo[1], sectorsPerTrack: geo[2] } : {}) }).size;
    expect(size('vpc ')).toBe(301 * 4 * 17 * 512);
    expect(size('qemu')).toBe(301 * 4 * 17 * 512);
    for (const app of ['qem2', 'win ', 'd2v ', 'CTXS', 'tap\0']) expect(size(app)).toBe(10 * MiB + 512);
    expect(size('qemu', [65535, 16, 255])).toBe(10 * MiB + 512);
  });

  it('geometry follows the specification table (as qemu computes it)', () => {
    expect(vhdGeometry(20480)).toEqual({ cylinders: 301, heads: 4, sectorsPerTrack: 17 });
    expect(vhdGeometry(65535 * 16 * 255 + 5)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  });

  it('round trip raw → vhd → vhdx → raw is byte-identical', async () => {
    const a = join(dir, 'rt.vhd');
    const b = join(dir, 'rt.vhdx');
    const src = await FileDevice.open(raw);
    await createWith(vhdDriver, src, a);
    await src.close();
    const A = await openWith(vhdDriver, a);
    await createWith(vhdxDriver, A.image, b, { block_size: '1M' });
    await A.close();
    const B = await openWith(vhdxDriver, b);
    expect(Buffer.compare(await readAll(B.image), readFileSync(raw))).toBe(0);
    await B.close();
    qemuCompare(raw, 'raw', b, 'vhdx');
  });

  it('footers and dynamic headers decode → encode byte-exact on qemu-made sectors', async () => {
    const q = join(dir, 'enc.vhd');
    run('qemu-img', ['create', '-q', '-f', 'vpc', q, '5M']);
    const bytes = readFileSync(q);
    const footer = bytes.subarray(bytes.length - 512);
    expect(Buffer.compare(encodeVhdFooter(parseVhdFooter(footer)), footer)).toBe(0);
    expect(Buffer.compare(footerBytesOf(parseVhdFooter(footer)), footer)).toBe(0);
    const hdr = bytes.subarray(512, 1536);
    expect(Buffer.compare(encodeVhdDynamicHeader(parseVhdDynamicHeader(hdr)), hdr)).toBe(0);
    const x = join(dir, 'enc.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', x, '5M']);
    const { image, close } = await openWith(vhdxDriver, x);
    expect((image as VhdxImage).creator).toMatch(/QEMU/);
    await close();
  });
});
