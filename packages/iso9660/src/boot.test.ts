import { rmSync } from 'node:fs';
import { it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { AtomicOutput, FileDevice } from '@diskit/core/node';
import { readBytes } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { buildIso } from './node.js';
import { readBootCatalog, openBootImage } from './eltorito.js';
import { readDescriptors, IsoVolume } from './reader/index.js';
import { isoFormat } from './formats.js';
import { tempDir } from './test/helpers.js';

let dir: string;
let src: string;

beforeAll(() => {
  dir = tempDir('boot');
  src = join(dir, 'src');
  mkdirSync(join(src, 'boot'), { recursive: true });
  const bios = new Uint8Array(6144);
  for (let i = 0; i < bios.length; i++) bios[i] = (i * 7 + 3) & 0xff;
  writeFileSync(join(src, 'boot', 'boot.img'), bios);
  run('mkfs.fat', ['-C', join(src, 'boot', 'efi.img'), '1440']);
  writeFileSync(join(src, 'readme.txt'), 'boot test\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface XoBoot { n: number; platform: string; bootable: boolean; emul: string; loadSegment: number; loadSize: number; lba: number }

function xorrisoBoot(iso: string): { catalogLba: number; images: XoBoot[] } {
  const out = run('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
  const cat = /El Torito catalog\s*:\s*(\d+)/.exec(out);
  const images: XoBoot[] = [];
  for (const m of out.matchAll(/El Torito boot img :\s+(\d+)\s+(\S+)\s+([yn])\s+(\S+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+(\d+)\s+(\d+)/g)) {
    images.push({ n: Number(m[1]), platform: m[2]!, bootable: m[3] === 'y', emul: m[4]!, loadSegment: parseInt(m[5]!, 16), loadSize: Number(m[6]), lba: Number(m[7]) });
  }
  return { catalogLba: Number(cat?.[1]), images };
}

async function ourBoot(iso: string): Promise<{ catalogLba: number; images: XoBoot[] }> {
  const f = await FileDevice.open(iso);
  try {
    const descs = await readDescriptors(f);
    const lba = descs.find((d) => d.bootCatalogLba !== undefined)!.bootCatalogLba!;
    const cat = await readBootCatalog(f, lba);
    expect(cat.validation.checksumOk).toBe(true);
    return {
      catalogLba: lba,
      images: cat.entries.map((e, i) => ({
        n: i + 1, platform: e.platformId === 0xef ? 'UEFI' : e.platformId === 0 ? 'BIOS' : e.platform, bootable: e.bootable,
        emul: e.mediaType === 0 ? 'none' : e.media, loadSegment: e.loadSegment, loadSize: e.sectorCount, lba: e.loadRba,
      })),
    };
  } finally {
    await f.close();
  }
}

describeWithTools(['xorriso', 'osirrox', 'genisoimage', 'mkfs.fat'], 'El Torito', () => {
  it('reads BIOS+EFI boot catalogs written by xorriso like xorriso -report_el_torito; boot images readable; isohybrid recognised', async () => {
    const iso = join(dir, 'xo-boot.iso');
    run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-b', 'boot/boot.img', '-c', 'boot/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '--protective-msdos-label', '-o', iso, src]);
    const theirs = xorrisoBoot(iso);
    const ours = await ourBoot(iso);
    expect(ours).toEqual(theirs);
    expect(ours.images.length).toBe(2);
    const f = await FileDevice.open(iso);
    const img = await isoFormat.open(f);
    expect(img.variant).toBe('hybrid');
    const info = await img.info!();
    expect(info.elTorito).toBe(true);
    expect((info.bootEntries as unknown[]).length).toBe(2);
    const cat = await readBootCatalog(f, ours.catalogLba);
    // decode → encode: xorriso's catalog sector again, byte for byte
    const { encodeBootCatalog } = await import('./eltorito.js');
    const again = encodeBootCatalog(cat.entries, cat.validation.idString);
    expect(Buffer.from(again).equals(Buffer.from(await readBytes(f, cat.offset, 2048)))).toBe(true);
    // the EFI image reads back as the FAT image we gave
    const efi = openBootImage(f, cat.entries[1]!);
    expect(Buffer.compare(Buffer.from(await readBytes(efi, 0, efi.size)), readFileSync(join(src, 'boot', 'efi.img')))).toBe(0);
    // the BIOS image (4 virtual sectors) is the start of /boot/boot.img as stored (info table patched)
    const vol = await IsoVolume.mount(f);
    const stored = await vol.openFile('/boot/boot.img');
    const bios = openBootImage(f, cat.entries[0]!);
    expect(Buffer.compare(Buffer.from(await readBytes(bios, 0, 2048)), Buffer.from(await readBytes(stored, 0, 2048)))).toBe(0);
    await f.close();
  });

  it('reads BIOS+EFI catalogs written by genisoimage like xorriso -report_el_torito', async () => {
    const iso = join(dir, 'gen-boot.iso');
    run('genisoimage', ['-quiet', '-R', '-J', '-b', 'boot/boot.img', '-c', 'boot/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '-o', iso, src]);
    const theirs = xorrisoBoot(iso);
    expect(theirs.images.length).toBe(2);
    expect(await ourBoot(iso)).toEqual(theirs);
  });

  it('boot entries of ISOs we build appear in xorriso -report_el_torito, with a valid boot info table', async () => {
    const iso = join(dir, 'our-boot.iso');
    const sink = await AtomicOutput.create(iso, { force: true });
    await buildIso(src, sink, { boot: 'boot/boot.img', bootCatalog: 'boot/boot.cat', noEmulBoot: true, bootLoadSize: 4, bootInfoTable: true, efiBoot: 'boot/efi.img' });
    await sink.commit();
    const theirs = xorrisoBoot(iso);
    expect(theirs.images.map((i) => [i.platform, i.emul, i.loadSize])).toEqual([['BIOS', 'none', 4], ['UEFI', 'none', 2880]]);
    expect(await ourBoot(iso)).toEqual(theirs);
    const plain = run('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
    expect(plain).toMatch(/El Torito cat path : \/boot\/boot.cat/);
    expect(plain).toMatch(/El Torito img opts :\s+1\s+boot-info-table/);
    // a boot info table that xorriso recognises and an extraction that matches the patched image
    const x = join(dir, 'our-boot.x');
    run('osirrox', ['-indev', iso, '-extract', '/', x]);
    const got = readFileSync(join(x, 'boot', 'boot.img'));
    const orig = readFileSync(join(src, 'boot', 'boot.img'));
    expect(got.subarray(64).equals(orig.subarray(64))).toBe(true);
    expect(got.readUInt32LE(8)).toBe(16);
    expect(got.readUInt32LE(12)).toBe(theirs.images[0]!.lba);
    expect(got.readUInt32LE(16)).toBe(orig.length);
    expect(readFileSync(join(x, 'boot', 'efi.img')).equals(readFileSync(join(src, 'boot', 'efi.img')))).toBe(true);
  });

  it('floppy emulation: our 1.44M entry matches xorriso (fd1.4) and the image reads back', async () => {
    const fsrc = join(dir, 'fsrc');
    mkdirSync(fsrc);
    const fl = Buffer.alloc(1474560);
    fl.write('FLOPPY BOOT', 0);
    fl.write('END', fl.length - 3);
    writeFileSync(join(fsrc, 'floppy.img'), fl);
    for (const [name, make] of [
      ['xo-floppy.iso', (iso: string) => run('xorriso', ['-as', 'mkisofs', '-b', 'floppy.img', '-c', 'boot.cat', '-o', iso, fsrc])],
      ['our-floppy.iso', async (iso: string) => {
        const sink = await AtomicOutput.create(iso, { force: true });
        await buildIso(fsrc, sink, { boot: 'floppy.img' });
        await sink.commit();
      }],
    ] as const) {
      const iso = join(dir, name);
      await make(iso);
      const theirs = xorrisoBoot(iso);
      expect(theirs.images.map((i) => [i.platform, i.emul, i.loadSize]), name).toEqual([['BIOS', 'fd1.4', 1]]);
      const ours = await ourBoot(iso);
      expect(ours.images.map((i) => [i.platform, i.emul, i.loadSize, i.lba])).toEqual(theirs.images.map((i) => [i.platform, '1.44M floppy', i.loadSize, i.lba]));
      const f = await FileDevice.open(iso);
      const cat = await readBootCatalog(f, ours.catalogLba);
      const img = openBootImage(f, cat.entries[0]!);
      expect(img.size).toBe(1474560);
      expect(Buffer.from(await readBytes(img, 0, img.size)).equals(fl)).toBe(true);
      await f.close();
    }
  });

  it('refuses a BIOS image of a non-floppy size without --no-emul-boot (UsageError)', async () => {
    const sink = await AtomicOutput.create(join(dir, 'bad.iso'), { force: true });
    await expect(buildIso(src, sink, { boot: 'boot/boot.img' })).rejects.toThrow(/no-emul-boot/);
    await expect(buildIso(src, sink, { boot: 'missing.img', noEmulBoot: true })).rejects.toThrow(/not in the source tree/);
    await sink.abort();
  });
});
