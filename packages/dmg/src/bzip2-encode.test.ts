import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { describeWithTools } from '../../../test/tools.js';
import { bzip2Encode } from './bzip2-encode.js';
import { bunzip2 } from './bzip2.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const words = (n: number) => {
  let x = 12345;
  const vocab = ['sector', 'chunk', 'koly', 'mish', 'blkx', 'udif', 'partition', 'extent', 'zero', 'run'];
  let s = '';
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += `${vocab[(x >>> 16) % vocab.length]}${(x >>> 8) % 13 === 0 ? '\n' : ' '}`;
  }
  return new TextEncoder().encode(s.slice(0, n));
};

/** Inputs that reach the encoder's edges: empty, tiny, runs around the 4/255 RLE limits, many blocks. */
const cases: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one byte': new Uint8Array([0x41]),
  'two symbols': new TextEncoder().encode('abababababababababab'),
  'runs of 3, 4, 5, 255, 256, 259': Uint8Array.from([...Array(3).fill(1), ...Array(4).fill(2), ...Array(5).fill(3), ...Array(255).fill(4), ...Array(256).fill(5), ...Array(259).fill(6), 7]),
  'a megabyte of one byte (periodic after RLE1)': new Uint8Array(1 << 20).fill(0x2a),
  'all 256 byte values': Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff),
  'text, 350 kB (four level-1 blocks)': words(350_000),
  'random, 300 kB': new Uint8Array(randomBytes(300_000)),
};

describe('bzip2 encoder', () => {
  for (const [name, data] of Object.entries(cases)) {
    it(`${name}: our decoder reads back the same bytes at block sizes 1 and 9`, () => {
      for (const level of [1, 9]) {
        const z = bzip2Encode(data, level);
        expect(new TextDecoder().decode(z.subarray(0, 4))).toBe(`BZh${level}`);
        expect(sha(bunzip2(z, data.length))).toBe(sha(data));
      }
    });
  }
});

describeWithTools(['bzip2'], 'bzip2 encoder against the reference bzip2', () => {
  for (const [name, data] of Object.entries(cases)) {
    it(`${name}: bunzip2 reads it back, and the size is within 1% of bzip2's own`, () => {
      for (const level of [1, 9]) {
        const z = bzip2Encode(data, level);
        const back = execFileSync('bzip2', ['-dc'], { input: z, maxBuffer: 1 << 26 });
        expect(sha(back)).toBe(sha(data));
        const ref = execFileSync('bzip2', [`-${level}`, '-c'], { input: data, maxBuffer: 1 << 26 });
        expect(z.length).toBeLessThanOrEqual(Math.ceil(ref.length * 1.01) + 16);
      }
    });
  }
});
