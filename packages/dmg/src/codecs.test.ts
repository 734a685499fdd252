import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryDevice } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { DmgImage, codecs, codecsReady, setCodecs, pureCodecs, createDmg, bunzip2, bzip2Encode } from './index.js';
import { nodeCodecs, CodecPool } from './node.js';
import { SHARED, describeShared } from './test/helpers.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('codec seam', () => {
  afterAll(() => setCodecs(nodeCodecs));

  it('under Node the package installs node:zlib by itself', async () => {
    await codecsReady();
    expect(codecs().name).toBe('node:zlib');
  });

  it('pure (fflate) and node:zlib paths write images the other reads back', async () => {
    const src = new Uint8Array(2 * 1048576 + 4096);
    src.set(randomBytes(300_000), 1000);
    src.fill(9, 1_500_000, 1_900_000);
    for (const [w, r] of [[pureCodecs, nodeCodecs], [nodeCodecs, pureCodecs]] as const) {
      setCodecs(w);
      const sink = new MemoryDevice(0, { growable: true });
      await createDmg(new MemoryDevice(src), sink, { options: { level: '6' } });
      setCodecs(r);
      const img = await DmgImage.open(new MemoryDevice(sink.bytes.slice()));
      const back = new Uint8Array(img.size);
      await img.read(back, 0);
      expect(sha(back)).toBe(sha(src));
    }
  });

  it('pack on worker threads gives the bytes and CRCs of the in-thread paths, and hands the data back intact', async () => {
    const { unzlibSync } = await import('fflate');
    const { crc32 } = await import('node:zlib');
    const text = new TextEncoder().encode('chunk '.repeat(200_000)).subarray(0, 1 << 20);
    const random = randomBytes(1 << 20);
    for (const method of ['zlib', 'bzip2'] as const) {
      const unpack = (z: Uint8Array, n: number) => (method === 'zlib' ? unzlibSync(z) : bunzip2(z, n));
      for (const threads of [0, 1, 2]) {
        for (const src of [text, random]) {
          const data = new Uint8Array(src);
          const r = await nodeCodecs.pack(data, method, 1, threads);
          expect(sha(r.data)).toBe(sha(src));
          expect(r.crc).toBe(crc32(src));
          const pure = await pureCodecs.pack(new Uint8Array(src), method, 1, 1);
          expect(r.crc).toBe(pure.crc);
          // Text packs (and unpacks back); random data is stored, on every path alike.
          expect(Boolean(r.z)).toBe(src === text);
          expect(Boolean(pure.z)).toBe(src === text);
          if (r.z) expect(sha(unpack(r.z, src.length))).toBe(sha(src));
        }
      }
    }
    // bzip2 chunks decode on the workers too, with the decoder's checks.
    const z = bzip2Encode(text, 1);
    expect(sha(await nodeCodecs.bunzip2(new Uint8Array(z), text.length))).toBe(sha(text));
    const bad = new Uint8Array(z);
    bad[bad.length >> 1]! ^= 0x10;
    await expect(Promise.resolve(nodeCodecs.bunzip2(bad, text.length))).rejects.toThrow(/bzip2|Huffman|CRC|selector/);
    await expect(Promise.resolve(nodeCodecs.bunzip2(new Uint8Array(z), text.length - 1))).rejects.toThrow(/past its/);
    // A small view of a larger buffer is copied, never taken from its owner.
    const big = new Uint8Array(4096).fill(7);
    const r = await nodeCodecs.pack(big.subarray(100, 600), 'zlib', 1, 2);
    expect(big.length).toBe(4096);
    expect(r.data.every((b) => b === 7)).toBe(true);
  });

  it('a codec worker that dies fails its chunk (no hang), and the pool starts another', async () => {
    const pool = new CodecPool(1);
    const text = new TextEncoder().encode('worker '.repeat(150_000));
    const job = pool.pack(new Uint8Array(text), 'bzip2', 9);
    await new Promise((r) => setTimeout(r, 20));
    const slots = (pool as unknown as { slots: { w: { terminate(): Promise<number> } }[] }).slots;
    expect(slots).toHaveLength(1);
    await slots[0]!.w.terminate();
    await expect(job).rejects.toThrow(/exited/);
    const again = await pool.pack(new Uint8Array(text), 'zlib', 1);
    expect(again.z).toBeDefined();
  }, 10_000);

  it('both zlib paths refuse a chunk that inflates past its size, without buffering it', async () => {
    const { zlibSync } = await import('fflate');
    const bomb = zlibSync(new Uint8Array(8 << 20));
    for (const c of [pureCodecs, nodeCodecs]) {
      await expect(Promise.resolve().then(() => c.inflate(bomb, 1 << 20))).rejects.toThrow(/past its/);
      await expect(Promise.resolve().then(() => c.inflate(bomb.subarray(0, 100), 8 << 20))).rejects.toThrow();
    }
  });
});

describeShared('pure path on the shared images', () => {
  afterAll(() => setCodecs(nodeCodecs));
  it('reads every shared image identically with fflate and node:zlib', async () => {
    for (const f of readdirSync(SHARED).filter((x) => x.endsWith('.dmg'))) {
      const out: string[] = [];
      for (const c of [pureCodecs, nodeCodecs]) {
        setCodecs(c);
        const img = await DmgImage.open(await FileDevice.open(join(SHARED, f)));
        const b = new Uint8Array(img.size);
        await img.read(b, 0);
        out.push(sha(b));
        await img.close();
      }
      expect(out[0], f).toBe(out[1]);
    }
  });
});
