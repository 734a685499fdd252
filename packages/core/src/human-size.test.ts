import { describe, expect, it } from 'vitest';
import { humanSize } from './human-size.js';

describe('humanSize', () => {
  it('binary units with the exact count, grouped or dropped on request', () => {
    expect(humanSize(512)).toBe('512 B');
    expect(humanSize(1536)).toBe('1.50 KiB (1536 bytes)');
    expect(humanSize(12 << 20)).toBe('12.0 MiB (12582912 bytes)');
    expect(humanSize(1536, { group: true })).toBe('1.50 KiB (1,536 bytes)');
    expect(humanSize(1536, { exact: false })).toBe('1.50 KiB');
    expect(humanSize(2 ** 50)).toBe('1024.0 TiB (1125899906842624 bytes)');
  });
});
