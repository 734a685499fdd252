/**
 * CRC32s checked as data is read (issue 10): a flipped byte in a real image's raw chunk stops
 * convert with exit 1 and no output; --no-verify reads it anyway. A koly with sector count 0 reads
 * like 7-Zip's extraction. info says why a partition table could not be read.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptImageError, MemoryDevice } from '@diskit/core';
import { describeWithTools, run } from '../../../test/tools.js';
import { SHARED, describeShared } from './test/helpers.js';
import { DmgImage, buildPlist, decodeKoly, decodeMish, encodeKoly, encodeMish, parsePlist, zeroCrc, type PlistDict } from './index.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dmgverify-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The file offset of the first stored byte of the first raw/compressed chunk of blkx `index`. */
function chunkOffset(b: Uint8Array, index: number): { at: number; len: number } {
  const koly = decodeKoly(b.subarray(b.length - 512), 0);
  const plist = parsePlist(new TextDecoder().decode(b.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength))) as any;
  const mish = decodeMish(plist['resource-fork'].blkx[index].Data, 'test');
  const c = mish.chunks.find((x) => x.type === 1 || x.type >>> 28 === 8)!;
  return { at: koly.dataForkOffset + mish.dataOffset + c.compressedOffset, len: c.compressedLength };
}

/** A copy of a DMG with its plist rewritten by `edit` (koly's xml offset and length updated). */
function withPlist(b: Uint8Array, edit: (p: PlistDict) => void): Uint8Array {
  const koly = decodeKoly(b.subarray(b.length - 512), 0);
  const plist = parsePlist(new TextDecoder().decode(b.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength))) as PlistDict;
  edit(plist);
  const xml = new TextEncoder().encode(buildPlist(plist));
  const out = new Uint8Array(koly.xmlOffset + xml.length + 512);
  out.set(b.subarray(0, koly.xmlOffset));
  out.set(xml, koly.xmlOffset);
  out.set(encodeKoly({ ...koly, xmlLength: xml.length }), koly.xmlOffset + xml.length);
  return out;
}

function sevenZip(dmg: string): Buffer {
  const out = mkdtempSync(join(dir, '7z-'));
  run('7z', ['x', '-tdmg', `-o${out}`, dmg]);
  const files = readdirSync(out).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  return Buffer.concat(files.map((f) => readFileSync(join(out, f))));
}

describe('zeroCrc', () => {
  it('equals the CRC32 of that many zero bytes', () => {
    for (const n of [0, 1, 2, 3, 511, 512, 4096, 1 << 20, (1 << 20) + 7]) expect(zeroCrc(n), `${n}`).toBe(crc32(Buffer.alloc(n)));
  });
});

describeShared('CRC32s checked on every full read', () => {
  const raw = () => new Uint8Array(readFileSync(join(SHARED, 'compression-raw.dmg')));

  it('library: a flipped byte in a raw chunk fails the read naming the blkx; unverified it reads', async () => {
    const b = raw();
    const { at, len } = chunkOffset(b, 2);
    b[at + (len >> 1)]! ^= 0x40;
    const img = await DmgImage.open(new MemoryDevice(b, { readOnly: true }));
    const disk = new Uint8Array(img.size);
    const err = await img.read(disk, 0).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(String(err.message)).toMatch(/blkx\[2\] " \(Windows_FAT_16 : 2\)" CRC32/);
    const lax = await DmgImage.open(new MemoryDevice(b, { readOnly: true }), { verify: false });
    await lax.read(disk, 0);
    // The same data read in small pieces out of order also meets the CRC (and fails it).
    const clean = await DmgImage.open(new MemoryDevice(raw(), { readOnly: true }));
    const piece = new Uint8Array(65536);
    for (let off = clean.size - piece.length; off >= 0; off -= piece.length) await clean.read(piece, off);
    const bad = await DmgImage.open(new MemoryDevice(b, { readOnly: true }));
    let thrown: unknown;
    for (let off = bad.size - piece.length; off >= 0 && !thrown; off -= piece.length) thrown = await bad.read(piece, off).catch((e) => e);
    expect(thrown).toBeInstanceOf(CorruptImageError);
  });

  it('CLI: convert exits 1 with no output file; --no-verify converts; a wrong data-fork CRC32 alone is caught too', () => {
    const b = raw();
    const { at, len } = chunkOffset(b, 2);
    b[at + (len >> 1)]! ^= 0x40;
    const bad = join(dir, 'flipped.dmg');
    writeFileSync(bad, b);
    const out = join(dir, 'flipped.raw');
    const r = diskit('convert', '-O', 'raw', bad, out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/CorruptImageError: blkx\[2\].*CRC32/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('flipped.raw'))).toEqual([]);
    expect(diskit('convert', '-O', 'raw', '--no-verify', bad, out).status).toBe(0);
    expect(existsSync(out)).toBe(true);

    // Data fork CRC32 wrong, the data right: only the data fork check can catch it.
    const f = raw();
    f[f.length - 512 + 80 + 8]! ^= 1;
    const forked = join(dir, 'fork.dmg');
    writeFileSync(forked, f);
    const r2 = diskit('convert', '-O', 'raw', forked, join(dir, 'fork.raw'));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/koly\.dataChecksum/);
    expect(existsSync(join(dir, 'fork.raw'))).toBe(false);
  });

  it('info says the partition table could not be read, and why (unsupported codec; damaged chunk)', () => {
    const unknown = withPlist(new Uint8Array(readFileSync(join(SHARED, 'compression-zlib.dmg'))), (p) => {
      const e = ((p['resource-fork'] as PlistDict)['blkx'] as PlistDict[])[0]!;
      const m = decodeMish(e['Data'] as Uint8Array, 'blkx[0]');
      m.chunks[0]!.type = 0x80000009;
      e['Data'] = encodeMish(m);
    });
    const f = join(dir, 'codec.dmg');
    writeFileSync(f, unknown);
    const r = diskit('info', f);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/partition table: could not be read: not supported: DMG chunk type 0x80000009/);
    expect(JSON.parse(diskit('info', '--json', f).stdout).partitionScheme).toBe('unreadable');

    const z = new Uint8Array(readFileSync(join(SHARED, 'compression-zlib.dmg')));
    const { at } = chunkOffset(z, 0);
    z.fill(0xff, at + 2, at + 12);
    writeFileSync(join(dir, 'garbled.dmg'), z);
    expect(diskit('info', join(dir, 'garbled.dmg')).stdout).toMatch(/partition table: could not be read: blkx\[0\] chunk 0 \(zlib\)/);
  });
});

describeWithTools(['xorriso'], 'CRC32s checked by ls and extract', () => {
  it('an ISO in a UDRO whose file data has a flipped byte: ls and extract exit 1 naming the blkx; --no-verify lists and extracts it', () => {
    const src = join(dir, 'isosrc');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src);
    const blob = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
    writeFileSync(join(src, 'blob.bin'), blob);
    writeFileSync(join(src, 'hello.txt'), 'hello\n');
    const iso = join(dir, 't.iso');
    run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', iso, src]);
    const dmg = join(dir, 'iso.dmg');
    expect(diskit('convert', '-f', 'raw', '-O', 'dmg', '-o', 'compression=raw', iso, dmg).status).toBe(0);
    const b = readFileSync(dmg);
    const at = b.indexOf(Buffer.from(blob.subarray(1000, 1032)));
    expect(at).toBeGreaterThan(0);
    b[at + 5]! ^= 1;
    const bad = join(dir, 'iso-bad.dmg');
    writeFileSync(bad, b);
    for (const args of [['ls', bad], ['extract', bad, '/', join(dir, 'x1')]]) {
      const r = diskit(...args);
      expect(r.status, args[0]).toBe(1);
      expect(r.stderr).toMatch(/CorruptImageError: blkx\[0\] .*CRC32/);
    }
    expect(diskit('ls', '--no-verify', bad).stdout.split('\n').sort()).toEqual(['', 'blob.bin', 'hello.txt']);
    expect(diskit('extract', '--no-verify', bad, '/', join(dir, 'x2')).status).toBe(0);
    const got = readFileSync(join(dir, 'x2', 'blob.bin'));
    expect(got.length).toBe(blob.length);
    expect([...got].filter((x, i) => x !== blob[i]).length).toBe(1);
  });
});

describeWithTools(['7z'], 'koly sector count 0', () => {
  describeShared('shared images', () => {
    it('the size comes from the blkx tables, check warns, and convert gives 7-Zip\'s bytes', () => {
      for (const name of ['compression-zlib.dmg', 'gpt.dmg']) {
        const b = new Uint8Array(readFileSync(join(SHARED, name)));
        const koly = decodeKoly(b.subarray(b.length - 512), 0);
        expect(koly.sectorCount).toBeGreaterThan(0);
        b.set(encodeKoly({ ...koly, sectorCount: 0 }), b.length - 512); // the koly has no checksum of its own
        const f = join(dir, `zero-${name}`);
        writeFileSync(f, b);
        const out = join(dir, `zero-${name}.raw`);
        const r = diskit('convert', '-O', 'raw', f, out);
        expect(r.status, r.stderr).toBe(0);
        const mine = readFileSync(out);
        expect(mine.length).toBe(koly.sectorCount * 512);
        expect(Buffer.compare(mine, sevenZip(f))).toBe(0);
        const c = diskit('check', f);
        expect(c.status).toBe(0);
        expect(c.stdout).toMatch(/warning: koly\.sectorCount is 0/);
      }
    });
  });
});
