import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { MemoryDevice, UsageError } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { describeWithTools, run, hasTool } from '../../../test/tools.js';
import { DmgImage, createDmg, ChunkType } from './index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function writeDmg(src: string, out: string, options: Record<string, string> = {}): Promise<void> {
  const source = await FileDevice.open(src);
  const sink = await FileDevice.create(out);
  await createDmg(source, sink, { options });
  await sink.close();
  await source.close();
}

async function readOurs(path: string): Promise<Uint8Array> {
  const img = await DmgImage.open(await FileDevice.open(path));
  const b = new Uint8Array(img.size);
  await img.read(b, 0);
  await img.close();
  return b;
}

/** Write `data` at `offset` of a (sparse) file. */
function put(path: string, offset: number, data: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, data, 0, data.length, offset);
  closeSync(fd);
}

function sevenZipConcat(dmg: string, dir: string): Buffer {
  const out = mkdtempSync(join(dir, '7z-'));
  run('7z', ['x', '-tdmg', `-o${out}`, dmg]);
  const files = readdirSync(out).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const b = Buffer.concat(files.map((f) => readFileSync(join(out, f))));
  rmSync(out, { recursive: true, force: true });
  return b;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dmgw-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writer (library)', () => {
  it('round-trips a whole disk through our reader, with checksums that check() accepts', async () => {
    const src = new Uint8Array(3 * 1048576 + 1536);
    src.set(randomBytes(5000), 100);
    src.fill(7, 2 * 1048576, 2 * 1048576 + 70000); // compressible
    src.set(randomBytes(512), src.length - 512);
    for (const compression of ['zlib', 'bzip2', 'raw']) {
      const sink = new MemoryDevice(0, { growable: true });
      await createDmg(new MemoryDevice(src), sink, { options: { compression } });
      const img = await DmgImage.open(new MemoryDevice(sink.bytes.slice()));
      expect(img.size).toBe(src.length);
      expect(img.variant).toBe({ zlib: 'UDZO', bzip2: 'UDBZ', raw: 'UDRO' }[compression]);
      const back = new Uint8Array(img.size);
      await img.read(back, 0);
      expect(sha(back)).toBe(sha(src));
      expect((await img.check()).problems).toEqual([]);
      // the all-zero middle megabyte is a free chunk, not data
      const kinds = img.chunks.map((c) => c.type);
      expect(kinds).toContain(ChunkType.IGNORE);
    }
  });

  it('a source whose size is not a whole number of sectors reads back padded with zeros to the next sector', async () => {
    const src = randomBytes(1000);
    const sink = new MemoryDevice(0, { growable: true });
    await createDmg(new MemoryDevice(src), sink);
    const img = await DmgImage.open(new MemoryDevice(sink.bytes.slice()));
    expect(img.size).toBe(1024);
    const back = new Uint8Array(1024);
    await img.read(back, 0);
    expect(sha(back.subarray(0, 1000))).toBe(sha(src));
    expect(back.subarray(1000).every((x) => x === 0)).toBe(true);
  });

  it('zlib chunks use level 1 by default, like hdiutil (header 78 01, as in the shared images); incompressible chunks are stored raw', async () => {
    const src = new Uint8Array(3 << 20);
    src.fill(0x61, 0, 1 << 20);
    src.set(randomBytes(1 << 20), 2 << 20);
    const sink = new MemoryDevice(0, { growable: true });
    await createDmg(new MemoryDevice(src), sink);
    const img = await DmgImage.open(new MemoryDevice(sink.bytes.slice()));
    const types = img.chunks.map((c) => c.type);
    expect(types).toEqual([ChunkType.ZLIB, ChunkType.IGNORE, ChunkType.RAW]);
    const z = img.chunks[0]!;
    expect([...sink.bytes.subarray(z.fileOffset, z.fileOffset + 2)]).toEqual([0x78, 0x01]);
    const sink9 = new MemoryDevice(0, { growable: true });
    await createDmg(new MemoryDevice(src), sink9, { options: { level: '9' } });
    expect([...sink9.bytes.subarray(0, 2)]).toEqual([0x78, 0xda]);
  });

  it('bzip2 chunks (UDBZ) are whole bzip2 streams with the block size hdiutil uses by default (BZh1)', async () => {
    const src = new Uint8Array(3 << 20);
    src.fill(0x61, 0, 1 << 20);
    src.set(new TextEncoder().encode('bzip2 '.repeat(100_000)), 2 << 20);
    const sink = new MemoryDevice(0, { growable: true });
    await createDmg(new MemoryDevice(src), sink, { options: { compression: 'bzip2' } });
    const img = await DmgImage.open(new MemoryDevice(sink.bytes.slice()));
    expect(img.chunks.map((c) => c.type)).toEqual([ChunkType.BZIP2, ChunkType.IGNORE, ChunkType.BZIP2]);
    const z = img.chunks[0]!;
    expect(new TextDecoder().decode(sink.bytes.subarray(z.fileOffset, z.fileOffset + 4))).toBe('BZh1');
    const back = new Uint8Array(img.size);
    await img.read(back, 0);
    expect(sha(back)).toBe(sha(src));
    expect((await img.check()).problems).toEqual([]);
  });

  it('refuses unknown options and out-of-range levels with UsageError', async () => {
    const sink = new MemoryDevice(0, { growable: true });
    await expect(createDmg(new MemoryDevice(4096), sink, { options: { compression: 'lzma' } })).rejects.toBeInstanceOf(UsageError);
    await expect(createDmg(new MemoryDevice(4096), sink, { options: { compression: 'bzip2', level: '0' } })).rejects.toBeInstanceOf(UsageError);
    await expect(createDmg(new MemoryDevice(4096), sink, { options: { colour: 'red' } })).rejects.toBeInstanceOf(UsageError);
    await expect(createDmg(new MemoryDevice(4096), sink, { options: { level: '11' } })).rejects.toBeInstanceOf(UsageError);
  });
});

describeWithTools(['7z', 'dmg2img', 'qemu-img', 'sfdisk', 'sgdisk'], 'writer: read back by 7z, dmg2img, qemu-img', () => {
  const sources: Record<string, string> = {};
  beforeAll(() => {
    // An MBR disk of 7 MiB + 3 sectors (not a multiple of the 1 MiB chunk): two partitions, data and holes.
    const mbr = join(dir, 'mbr.img');
    writeFileSync(mbr, '');
    ftruncateSync(openSync(mbr, 'r+'), 7 * 1048576 + 1536);
    execFileSync('sfdisk', ['-q', mbr], { input: 'label: dos\nstart=2048, size=4096, type=6\nstart=6144, size=6000, type=83\n' });
    put(mbr, 2048 * 512, randomBytes(300_000));
    put(mbr, 2048 * 512 + 1048576 + 4096, Buffer.alloc(200_000, 0x41));
    put(mbr, 6144 * 512 + 12345, randomBytes(1_500_000));
    put(mbr, 7 * 1048576 + 1024, randomBytes(512));
    sources.mbr = mbr;
    // A GPT disk.
    const gpt = join(dir, 'gpt.img');
    writeFileSync(gpt, '');
    ftruncateSync(openSync(gpt, 'r+'), 6 * 1048576);
    execFileSync('sgdisk', ['-n', '1:2048:+2M', '-c', '1:alpha', '-n', '2:0:+1M', '-c', '2:beta', gpt], { stdio: 'ignore' });
    put(gpt, 2048 * 512 + 777, randomBytes(900_000));
    put(gpt, (2048 + 4096) * 512 + 5, randomBytes(100_000));
    sources.gpt = gpt;
    // No partition table at all.
    const bare = join(dir, 'bare.img');
    writeFileSync(bare, Buffer.concat([randomBytes(1_000_000), Buffer.alloc(2_000_000), Buffer.alloc(500_032, 3)])); // 6836 sectors
    sources.bare = bare;
  });

  for (const compression of ['zlib', 'bzip2', 'raw']) {
    for (const kind of ['mbr', 'gpt', 'bare']) {
      it(`${kind} source, compression=${compression}`, async () => {
        const src = sources[kind]!;
        const want = sha(readFileSync(src));
        const dmg = join(dir, `${kind}-${compression}.dmg`);
        await writeDmg(src, dmg, { compression });
        expect(sha(await readOurs(dmg))).toBe(want);
        // 7z: one file per blkx, concatenated in index order.
        expect(sha(sevenZipConcat(dmg, dir))).toBe(want);
        const d2i = join(dir, `${kind}-${compression}.d2i`);
        run('dmg2img', ['-s', dmg, d2i]);
        expect(sha(readFileSync(d2i))).toBe(want);
        // qemu-img reads bzip2 chunks only through its dmg-bz2 module, which Debian does not build.
        if (compression !== 'bzip2') {
          const q = join(dir, `${kind}-${compression}.qraw`);
          run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', dmg, q]);
          expect(sha(readFileSync(q))).toBe(want);
        }
        const img = await DmgImage.open(await FileDevice.open(dmg));
        const packed = { zlib: ChunkType.ZLIB, bzip2: ChunkType.BZIP2, raw: ChunkType.RAW }[compression]!;
        expect(img.chunks.some((c) => c.type === packed)).toBe(true);
        if (kind === 'mbr') expect(img.blkx.map((b) => b.name)).toEqual([
          'Master Boot Record (MBR : 0)', ' (Apple_Free : 1)', ' (Windows_FAT_16 : 2)', ' (Linux : 3)', ' (Apple_Free : 4)',
        ]);
        if (kind === 'gpt') expect(img.blkx.some((b) => b.name.includes('alpha'))).toBe(true);
        if (kind === 'bare') expect(img.blkx.length).toBe(1);
        expect((await img.check()).problems).toEqual([]);
        await img.close();
      });
    }
  }

  it('a sparse 5 GiB disk (data past 4 GiB) round-trips through qemu-img, 7z and dmg2img', async () => {
    const big = join(dir, 'big.img');
    writeFileSync(big, '');
    const size = 5 * 1024 * 1048576 + 3 * 512;
    ftruncateSync(openSync(big, 'r+'), size);
    const a = randomBytes(100_000), b = randomBytes(3_000_000), c = randomBytes(512);
    put(big, 4096, a);
    put(big, 4 * 1024 * 1048576 + 1048576 * 7 + 100, b); // past 4 GiB
    put(big, size - 512, c);
    const dmg = join(dir, 'big.dmg');
    await writeDmg(big, dmg);
    expect(statSync(dmg).size).toBeLessThan(4_000_000);
    const q = join(dir, 'big.qraw');
    run('qemu-img', ['convert', '-f', 'dmg', '-O', 'raw', dmg, q]);
    execFileSync('cmp', [big, q]);
    rmSync(q);
    execFileSync('sh', ['-c', `7z x -tdmg -so '${dmg}' | cmp - '${big}'`]);
    const d2i = join(dir, 'big.d2i');
    run('dmg2img', ['-s', dmg, d2i]);
    execFileSync('cmp', [big, d2i]);
    rmSync(d2i);
    // Our reader: spot checks at the data and across the 4 GiB line.
    const img = await DmgImage.open(await FileDevice.open(dmg));
    expect(img.size).toBe(size);
    const got = new Uint8Array(b.length);
    await img.read(got, 4 * 1024 * 1048576 + 1048576 * 7 + 100);
    expect(sha(got)).toBe(sha(b));
    expect((await img.check()).problems).toEqual([]);
    await img.close();
  });
});
