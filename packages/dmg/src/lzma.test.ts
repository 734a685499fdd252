/** LZMA (ULMO) chunks: the real hdiutil image, images made by Python's lzma, hostile xz streams. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { CorruptImageError, MemoryDevice } from '@diskit/core';
import { describeNeeding, describeWithTools, run, sharedImagesDir } from '../../../test/tools.js';
import { DmgImage, pureCodecs, setCodecs, type PlacedChunk } from './index.js';
import { nodeCodecs } from './node.js';

const APPLE = resolve(sharedImagesDir(), 'apple');
const ULMO = join(APPLE, 'dmgwiz--input_lzma.dmg');
const DISK_SHA = '1407509ff44696aab011815d84951ad2c53cb7345a71d9803b73817c2d2d83cf';
const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const xz = (data: Uint8Array, args: string[] = ['-6']) => new Uint8Array(execFileSync('xz', ['-z', '-c', '--check=none', ...args], { input: data, maxBuffer: 1 << 28 }));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dmglzma-'));
});
afterAll(() => {
  setCodecs(nodeCodecs);
  rmSync(dir, { recursive: true, force: true });
});

async function readDisk(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await DmgImage.open(new MemoryDevice(bytes, { readOnly: true }));
  const out = new Uint8Array(img.size);
  await img.read(out, 0);
  return out;
}

describeNeeding(existsSync(ULMO) ? [] : [ULMO], 'the shared hdiutil ULMO image', () => {
  it('reads byte-exact (README sha256) on the worker threads and on the pure path', async () => {
    for (const c of [nodeCodecs, pureCodecs]) {
      setCodecs(c);
      const img = await DmgImage.open(new MemoryDevice(new Uint8Array(readFileSync(ULMO)), { readOnly: true }));
      expect(img.variant).toBe('ULMO');
      const disk = new Uint8Array(img.size);
      await img.read(disk, 0);
      expect(sha(disk), c.name).toBe(DISK_SHA);
      expect((await img.check()).problems).toEqual([]);
    }
    setCodecs(nodeCodecs);
  });

  it('the CLI: info shows ULMO and its GPT, convert gives the README bytes', () => {
    const info = JSON.parse(execFileSync('node', [cli, 'info', '--json', ULMO], { encoding: 'utf8' }));
    expect(info.variant).toBe('ULMO');
    expect(info.partitionScheme).toBe('gpt');
    const out = join(dir, 'ulmo.raw');
    execFileSync('node', [cli, 'convert', '-O', 'raw', ULMO, out]);
    expect(sha(readFileSync(out))).toBe(DISK_SHA);
  });
});

describeWithTools(['python3', '7z'], 'ULMO images made by Python\'s lzma', () => {
  it('a 12 MiB MBR disk (random, text, holes) reads back equal to the source, as 7-Zip does', () => {
    const src = join(dir, 'src.img');
    const fd = openSync(src, 'w');
    const mbr = Buffer.alloc(512);
    mbr.writeUInt8(0x83, 446 + 4);
    mbr.writeUInt32LE(2048, 446 + 8);
    mbr.writeUInt32LE(20000, 446 + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    writeSync(fd, mbr, 0, 512, 0);
    writeSync(fd, randomBytes(1_500_000), 0, 1_500_000, 1 << 20);
    writeSync(fd, Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(80_000)), 0, undefined, 5 << 20);
    writeSync(fd, randomBytes(4096), 0, 4096, (12 << 20) - 4096);
    closeSync(fd);
    const udro = join(dir, 'src.dmg');
    execFileSync('node', [cli, 'convert', '-O', 'dmg', '-o', 'compression=raw', src, udro]);
    const ulmo = join(dir, 'py.dmg');
    run('python3', [join(__dirname, 'test/ulmo.py'), udro, ulmo, '1']);
    const want = readFileSync(src);
    const seven = mkdtempSync(join(dir, '7z-'));
    run('7z', ['x', '-tdmg', `-o${seven}`, ulmo]);
    const parts = readdirSync(seven).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    expect(Buffer.compare(Buffer.concat(parts.map((f) => readFileSync(join(seven, f)))), want)).toBe(0);
    const back = join(dir, 'py.raw');
    execFileSync('node', [cli, 'convert', '-O', 'raw', ulmo, back]);
    expect(Buffer.compare(readFileSync(back), want)).toBe(0);
    expect(spawnSync('node', [cli, 'check', ulmo]).status).toBe(0);
  });
});

describeWithTools(['xz'], 'hostile xz chunks', () => {
  const text = new TextEncoder().encode('lzma chunk '.repeat(10_000));
  const codecsUnder = [nodeCodecs, pureCodecs];

  it('unxz decodes xz(1)\'s streams (checks none, CRC32, CRC64) to the exact size, and refuses wrong sizes, truncation and garbage', async () => {
    for (const c of codecsUnder) {
      for (const check of ['none', 'crc32', 'crc64']) {
        const z = new Uint8Array(execFileSync('xz', ['-z', '-c', `--check=${check}`], { input: text }));
        expect(await c.unxz(z.slice(), text.length), `${c.name} ${check}`).toEqual(text);
      }
      // xz-embedded has no SHA-256: refused in words, never decoded unchecked.
      const s256 = new Uint8Array(execFileSync('xz', ['-z', '-c', '--check=sha256'], { input: text }));
      await expect(c.unxz(s256, text.length), c.name).rejects.toThrow(/unsupported options or integrity check/);
      const z = xz(text);
      await expect(c.unxz(z.slice(), text.length - 1), c.name).rejects.toThrow(/past its/);
      await expect(c.unxz(z.slice(), text.length + 1), c.name).rejects.toThrow(/expected/);
      await expect(c.unxz(z.slice(0, z.length >> 1), text.length), c.name).rejects.toThrow();
      await expect(c.unxz(randomBytes(5000), text.length), c.name).rejects.toThrow();
      await expect(c.unxz(new Uint8Array(0), text.length), c.name).rejects.toThrow();
      const flipped = z.slice();
      flipped[flipped.length >> 1]! ^= 0x10;
      const crc = new Uint8Array(execFileSync('xz', ['-z', '-c', '--check=crc64'], { input: text }));
      crc[crc.length >> 1]! ^= 0x10;
      await expect(c.unxz(crc, text.length), c.name).rejects.toThrow();
    }
  });

  it('a bomb (a tiny xz chunk of 64 MiB zeros in a 1-sector chunk) is refused without decoding it all', async () => {
    const bomb = xz(new Uint8Array(64 << 20), ['-9']);
    expect(bomb.length).toBeLessThan(20_000);
    for (const c of codecsUnder) await expect(c.unxz(bomb.slice(), 512), c.name).rejects.toThrow(/past its 512 bytes/);
  });

  it('in an image, a damaged LZMA chunk is a CorruptImageError naming the chunk', async () => {
    if (!existsSync(ULMO)) return;
    const b = new Uint8Array(readFileSync(ULMO));
    const img = await DmgImage.open(new MemoryDevice(b, { readOnly: true }));
    const big = img.chunks.filter((c: PlacedChunk) => c.type === 0x80000008).sort((x, y) => y.fileLength - x.fileLength)[0]!;
    b.fill(0x55, big.fileOffset + 12, big.fileOffset + 40);
    const err = await readDisk(b).catch((e) => e);
    expect(err).toBeInstanceOf(CorruptImageError);
    expect(err.message).toMatch(new RegExp(`blkx\\[${big.blkx}\\] chunk ${big.index} \\(lzma\\)`));
  });
});
