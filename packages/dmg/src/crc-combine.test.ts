import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { crc32Combine } from './crc-combine.js';

describe('crc32Combine', () => {
  it('joins CRCs as zlib computes the whole, for new and repeated lengths (the cached operator)', () => {
    for (const len of [1, 7, 512, 4096, 4096, 4096, 1 << 20, 1 << 20, 1 << 20, 3]) {
      for (let k = 0; k < 3; k++) {
        const a = randomBytes(1 + k * 100), b = randomBytes(len);
        expect(crc32Combine(crc32(a), crc32(b), len)).toBe(crc32(Buffer.concat([a, b])));
      }
    }
  });
});
