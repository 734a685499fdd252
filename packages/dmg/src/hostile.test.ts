import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zlibSync } from 'fflate';
import { MemoryDevice, CorruptImageError, TruncatedImageError, UnsupportedFeatureError, DiskitError } from '@diskit/core';
import { DmgImage, createDmg, decodeKoly, encodeKoly, decodeMish, encodeMish, buildPlist, parsePlist, ChunkType, crcChecksum, KOLY_SIZE, type Mish } from './index.js';
import { SHARED, describeShared } from './test/helpers.js';

const open = (b: Uint8Array) => DmgImage.open(new MemoryDevice(b));

/** A small valid image written by our writer. */
async function sample(): Promise<Uint8Array> {
  const src = new Uint8Array(3 << 20);
  for (let i = 0; i < src.length; i += 4096) src[i] = (i >> 12) & 0xff;
  const sink = new MemoryDevice(0, { growable: true });
  await createDmg(new MemoryDevice(src), sink);
  return sink.bytes.slice();
}

/** Rebuild an image with its blkx tables passed through `edit` (data fork kept). */
function rebuild(img: Uint8Array, edit: (m: Mish, i: number) => void, dataFork?: Uint8Array): Uint8Array {
  const koly = decodeKoly(img.subarray(img.length - KOLY_SIZE), img.length - KOLY_SIZE);
  const fork = dataFork ?? img.subarray(0, koly.dataForkLength);
  const plist = parsePlist(new TextDecoder().decode(img.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength))) as any;
  plist['resource-fork'].blkx.forEach((b: any, i: number) => {
    const m = decodeMish(b.Data, 'x');
    edit(m, i);
    b.Data = encodeMish(m);
  });
  const xml = new TextEncoder().encode(buildPlist(plist));
  const out = new Uint8Array(fork.length + xml.length + KOLY_SIZE);
  out.set(fork, 0);
  out.set(xml, fork.length);
  out.set(encodeKoly({ ...koly, dataForkLength: fork.length, xmlOffset: fork.length, xmlLength: xml.length }), fork.length + xml.length);
  return out;
}

async function readAllOf(b: Uint8Array): Promise<void> {
  const img = await open(b);
  const buf = new Uint8Array(img.size);
  await img.read(buf, 0);
}

describe('hostile input', () => {
  it('koly and mish decode→encode are byte-exact', async () => {
    const img = await sample();
    const tail = img.subarray(img.length - KOLY_SIZE);
    expect(encodeKoly(decodeKoly(tail, 0))).toEqual(tail);
  });

  it('truncated files and trailers', async () => {
    const img = await sample();
    await expect(open(img.subarray(0, 100))).rejects.toBeInstanceOf(TruncatedImageError);
    await expect(open(img.subarray(0, img.length - 1))).rejects.toBeInstanceOf(CorruptImageError); // no koly at the end
    await expect(open(new Uint8Array(4096))).rejects.toThrow(/signature "koly"/);
  });

  it('a koly whose plist or data fork lies outside the file', async () => {
    const img = await sample();
    const at = img.length - KOLY_SIZE;
    for (const patch of [{ xmlOffset: img.length }, { xmlLength: 1e12 }, { dataForkLength: img.length * 2 }, { sectorCount: 2 ** 62 }]) {
      const bad = img.slice();
      bad.set(encodeKoly({ ...decodeKoly(img.subarray(at), at), ...patch }), at);
      await expect(open(bad), JSON.stringify(patch)).rejects.toBeInstanceOf(CorruptImageError);
    }
  });

  it('a broken plist', async () => {
    const img = await sample();
    const koly = decodeKoly(img.subarray(img.length - KOLY_SIZE), 0);
    const bad = img.slice();
    const at = koly.xmlOffset + new TextDecoder().decode(img.subarray(koly.xmlOffset)).indexOf('<key>blkx');
    bad[at + 1] = 0x58; // <Xey>
    await expect(open(bad)).rejects.toBeInstanceOf(CorruptImageError);
    expect(() => parsePlist('<plist><dict><key>a</key><data>@@@</data></dict></plist>')).toThrow(CorruptImageError);
    expect(() => parsePlist('<plist>' + '<array>'.repeat(100) + '</array>'.repeat(100) + '</plist>')).toThrow(/nesting/);
  });

  it('chunk tables pointing outside the data fork, past the disk, overlapping, or lying about counts', async () => {
    const img = await sample();
    const cases: [string, (m: Mish) => void][] = [
      ['offset past fork', (m) => { m.chunks[0]!.compressedOffset = 1e9; m.chunks[0]!.type = ChunkType.ZLIB; m.chunks[0]!.compressedLength = 10; }],
      ['sectors past blkx', (m) => { m.chunks[0]!.sectorCount = m.sectorCount + 1; }],
      ['overlap', (m) => { m.chunks[1]!.sectorNumber = 0; }],
      ['huge chunk', (m) => { m.chunks[0]!.sectorCount = 1 << 20; m.sectorCount = 1 << 21; }],
      ['unknown type', (m) => { m.chunks[0]!.type = 0x12345678; }],
    ];
    for (const [name, edit] of cases) {
      await expect(open(rebuild(img, edit)), name).rejects.toBeInstanceOf(DiskitError);
    }
    // A chunk count larger than the table is refused before anything is allocated.
    const koly = decodeKoly(img.subarray(img.length - KOLY_SIZE), 0);
    const mish = encodeMish(decodeMish((parsePlist(new TextDecoder().decode(img.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength))) as any)['resource-fork'].blkx[0].Data, 'x'));
    new DataView(mish.buffer).setUint32(200, 0xffffffff);
    expect(() => decodeMish(mish, 'blkx[0]')).toThrow(CorruptImageError);
  });

  it('a decompression bomb: a zlib chunk inflating past its sector count is a typed error', async () => {
    const bomb = zlibSync(new Uint8Array(64 << 20), { level: 9 });
    const img = await sample();
    const bad = rebuild(img, (m, i) => {
      if (i !== 0) return;
      m.chunks = [
        { type: ChunkType.ZLIB, comment: 0, sectorNumber: 0, sectorCount: 2048, compressedOffset: 0, compressedLength: bomb.length },
        { type: ChunkType.IGNORE, comment: 0, sectorNumber: 2048, sectorCount: m.sectorCount - 2048, compressedOffset: 0, compressedLength: 0 },
        { type: ChunkType.TERMINATOR, comment: 0, sectorNumber: m.sectorCount, sectorCount: 0, compressedOffset: 0, compressedLength: 0 },
      ];
      m.checksum = crcChecksum(0);
    }, bomb);
    await expect(readAllOf(bad)).rejects.toThrow(/inflates past/);
    await expect(readAllOf(bad)).rejects.toBeInstanceOf(CorruptImageError);
  });

  it('garbage inside ADC, LZFSE and bzip2 chunks is a typed error', async () => {
    const img = await sample();
    for (const type of [ChunkType.ADC, ChunkType.LZFSE, ChunkType.BZIP2]) {
      const bad = rebuild(img, (m, i) => {
        if (i === 0) for (const c of m.chunks) if (c.type === ChunkType.ZLIB) c.type = type;
      });
      await expect(readAllOf(bad), type.toString(16)).rejects.toBeInstanceOf(CorruptImageError);
    }
  });

  it('encrypted and sparse images are refused as unsupported', async () => {
    const enc = new Uint8Array(4096);
    enc.set(new TextEncoder().encode('encrcdsa'), 0);
    await expect(open(enc)).rejects.toThrow(new UnsupportedFeatureError('not supported: encrypted DMG'));
    enc.set(new TextEncoder().encode('cdsaencr'), 0);
    await expect(open(enc)).rejects.toBeInstanceOf(UnsupportedFeatureError);
    const sprs = new Uint8Array(4096);
    sprs.set(new TextEncoder().encode('sprs'), 0);
    await expect(open(sprs)).rejects.toThrow(/not supported: sparse/);
  });

  it('check() reports bad CRCs and unknown checksum kinds instead of failing', async () => {
    const img = await sample();
    const bad = rebuild(img, (m, i) => {
      if (i === 0) m.checksum = crcChecksum(0xdeadbeef);
    });
    const rep = await (await open(bad)).check();
    expect(rep.problems.some((p) => p.severity === 'error' && /blkx\[0\] checksum/.test(p.message))).toBe(true);
    const md5 = rebuild(img, (m) => {
      m.checksum = { type: 4, size: 128, data: new Uint8Array(128) };
    });
    const rep2 = await (await open(md5)).check();
    expect(rep2.problems.some((p) => p.severity === 'warning' && /md5/.test(p.message))).toBe(true);
    expect(rep2.problems.filter((p) => p.severity === 'error' && /blkx/.test(p.message))).toEqual([]);
    // A flipped byte in the data fork.
    const flip = img.slice();
    flip[10] ^= 0xff;
    const rep3 = await (await open(flip)).check();
    expect(rep3.problems.some((p) => /dataChecksum/.test(p.message))).toBe(true);
  });
});

describeShared('hostile input on real images', () => {
  it('every truncation of a real image fails with a typed error or reads', async () => {
    const b = new Uint8Array(readFileSync(join(SHARED, 'compression-lzfse.dmg')));
    for (let cut = 1; cut < b.length; cut += 97) {
      try {
        await readAllOf(b.subarray(0, b.length - cut));
      } catch (e) {
        expect(e, `cut ${cut}`).toBeInstanceOf(DiskitError);
      }
    }
  });

  it('random byte flips in the data fork of each compression kind never escape as untyped errors', async () => {
    for (const k of ['adc', 'bz2', 'lzfse', 'zlib']) {
      const b = new Uint8Array(readFileSync(join(SHARED, `compression-${k}.dmg`)));
      const koly = decodeKoly(b.subarray(b.length - KOLY_SIZE), 0);
      let seed = 12345;
      for (let n = 0; n < 60; n++) {
        const bad = b.slice();
        for (let j = 0; j < 3; j++) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          bad[seed % koly.dataForkLength] ^= 1 << (seed >>> 29);
        }
        try {
          await readAllOf(bad);
        } catch (e) {
          expect(e, `${k} #${n}: ${(e as Error).message}`).toBeInstanceOf(DiskitError);
        }
      }
    }
  });
});
