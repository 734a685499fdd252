import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryDevice } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { DmgImage, codecs, codecsReady, setCodecs, pureCodecs, createDmg } from './index.js';
import { nodeCodecs } from './node.js';
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
