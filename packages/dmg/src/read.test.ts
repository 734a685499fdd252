import { describe, it, expect } from 'vitest';
import { SHARED, describeShared, readAll } from './test/helpers.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { MemoryDevice, collectExtents, CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, run } from '../../../test/tools.js';
import { DmgImage, dmgDriver, decodeKoly, encodeKoly, decodeMish, encodeMish, parsePlist } from './index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const KINDS = ['adc', 'bz2', 'lzfse', 'raw', 'zlib'];
/** Disk sizes from the shared README. */
const SIZES: Record<string, number> = { 'zlib-compressed.dmg': 9_400_320, 'raw.dmg': 2_342_912, 'gpt.dmg': 9_379_840, 'encrypted.dmg': 9_379_840 };
const FORKS: Record<string, number> = { 'zlib-compressed.dmg': 14_241, 'raw.dmg': 1_671_680, 'gpt.dmg': 14_771, 'encrypted.dmg': 14_434 };

function sevenZip(dmg: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'dmg7z-'));
  try {
    run('7z', ['x', '-tdmg', `-o${dir}`, dmg]);
    const files = readdirSync(dir).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    return Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describeShared('shared hdiutil images', () => {
  it('every image opens, with the sizes in the README, and check() finds no problem', async () => {
    for (const f of readdirSync(SHARED).filter((x) => x.endsWith('.dmg'))) {
      const img = await DmgImage.open(await FileDevice.open(join(SHARED, f)), f);
      if (SIZES[f]) expect(img.size, f).toBe(SIZES[f]);
      if (FORKS[f]) expect(img.koly.dataForkLength, f).toBe(FORKS[f]);
      const rep = await img.check();
      expect(rep.problems, f).toEqual([]);
      const info = await img.info();
      expect((info.blkx as unknown[]).length).toBeGreaterThan(0);
      expect(JSON.parse(JSON.stringify(info))).toEqual(info);
      if (f.startsWith('compression-')) expect(Object.keys(info.resources as object)).toContain('plst');
      await img.close();
    }
  });

  it('koly and every mish table decode→encode byte-exact on the real images', async () => {
    for (const f of readdirSync(SHARED).filter((x) => x.endsWith('.dmg'))) {
      const b = new Uint8Array(readFileSync(join(SHARED, f)));
      const tail = b.subarray(b.length - 512);
      expect(encodeKoly(decodeKoly(tail, 0)), f).toEqual(tail);
      const koly = decodeKoly(tail, 0);
      const plist = parsePlist(new TextDecoder().decode(b.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength))) as any;
      for (const e of plist['resource-fork'].blkx) expect(encodeMish(decodeMish(e.Data, f)), f).toEqual(e.Data);
    }
  });

  it('all five compression kinds decompress to the same bytes', async () => {
    const hashes = await Promise.all(KINDS.map(async (k) => sha(await readAll(join(SHARED, `compression-${k}.dmg`)))));
    expect(new Set(hashes).size).toBe(1);
  });

  it('variants and per-partition info', async () => {
    const variants: Record<string, string> = { adc: 'UDCO', bz2: 'UDBZ', lzfse: 'ULFO', raw: 'UDRO', zlib: 'UDZO' };
    for (const k of KINDS) {
      const img = await DmgImage.open(await FileDevice.open(join(SHARED, `compression-${k}.dmg`)));
      expect(img.variant).toBe(variants[k]);
      const parts = img.partitions();
      expect(parts.map((p) => p.name)).toEqual(img.blkx.map((b) => b.name));
      expect(parts.some((p) => /FAT/.test(p.name))).toBe(true);
      await img.close();
    }
  });

  it('encrypted.dmg and gpt.dmg are really plain UDZO images of a bare HFS+ volume (no GPT, no encryption)', async () => {
    for (const f of ['encrypted.dmg', 'gpt.dmg']) {
      const img = await DmgImage.open(await FileDevice.open(join(SHARED, f)));
      expect(img.variant).toBe('UDZO');
      expect(img.blkx.map((b) => b.name)).toEqual(['whole disk (Apple_HFS : 0)']);
      const head = new Uint8Array(1026);
      await img.read(head, 0);
      expect(Buffer.from(head.subarray(512, 520)).toString('latin1')).not.toBe('EFI PART');
      expect(Buffer.from(head.subarray(1024, 1026)).toString('latin1')).toBe('H+');
      await img.close();
    }
  });

  it('extents: zero-fill and free chunks are not data', async () => {
    const img = await DmgImage.open(await FileDevice.open(join(SHARED, 'compression-zlib.dmg')));
    const ex = await collectExtents(img);
    expect(ex.reduce((a, e) => a + e.length, 0)).toBe(img.size);
    expect(ex.some((e) => e.kind !== 'data')).toBe(true);
    const all = await readAll(join(SHARED, 'compression-zlib.dmg'));
    for (const e of ex) if (e.kind !== 'data') expect(all.subarray(e.offset, e.offset + e.length).every((b) => b === 0)).toBe(true);
    await img.close();
  });

  it('probe says yes to a koly trailer and no to others', async () => {
    const b = readFileSync(join(SHARED, 'gpt.dmg'));
    expect(dmgDriver.probe({ head: b.subarray(0, 65536), tail: b.subarray(b.length - 512), size: b.length })).toBeGreaterThan(50);
    expect(dmgDriver.probe({ head: new Uint8Array(512), tail: new Uint8Array(512), size: 512 })).toBe(0);
  });
});

describeWithTools(['7z'], 'read: against 7z', () => {
  describeShared('shared images', () => {
    it('each image equals 7z x (per-blkx files concatenated in index order)', async () => {
      for (const f of readdirSync(SHARED).filter((x) => x.endsWith('.dmg'))) {
        const ours = await readAll(join(SHARED, f));
        const theirs = sevenZip(join(SHARED, f));
        expect(theirs.length, f).toBe(ours.length);
        expect(sha(ours), f).toBe(sha(theirs));
      }
    });
  });
});

describeWithTools(['dmg2img'], 'read: against dmg2img', () => {
  describeShared('shared images', () => {
    it('zlib, bzip2, ADC, raw images equal dmg2img output', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dmg2img-'));
      try {
        for (const k of ['zlib', 'bz2', 'adc', 'raw']) {
          const out = join(dir, `${k}.img`);
          run('dmg2img', ['-s', join(SHARED, `compression-${k}.dmg`), out]);
          expect(sha(await readAll(join(SHARED, `compression-${k}.dmg`))), k).toBe(sha(readFileSync(out)));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describeWithTools(['qemu-img'], 'read: against qemu-img', () => {
  describeShared('shared images', () => {
    it('raw and zlib images equal qemu-img convert -f dmg -O raw', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dmgq-'));
      try {
        for (const f of ['compression-raw.dmg', 'compression-zlib.dmg', 'gpt.dmg', 'raw.dmg', 'zlib-compressed.dmg']) {
          const out = join(dir, `${f}.raw`);
          run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', join(SHARED, f), out]);
          expect(sha(await readAll(join(SHARED, f))), f).toBe(sha(readFileSync(out)));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
