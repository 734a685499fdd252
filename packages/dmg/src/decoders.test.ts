import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describeWithTools } from '../../../test/tools.js';
import { adcDecode, AdcError, bunzip2, Bzip2Error, lzfseDecode, LzfseError, parsePlist, buildPlist, base64Encode, base64Decode } from './index.js';

const enc = (s: string) => new TextEncoder().encode(s);
const cat = (...p: (Uint8Array | number[])[]) => {
  const parts = p.map((x) => (x instanceof Uint8Array ? x : Uint8Array.from(x)));
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  return out;
};
const u32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];

describe('ADC', () => {
  it('decodes literal runs, 2-byte and 3-byte matches (overlapping copies)', () => {
    // "abc" literal, 2-byte code len 6 dist 3, 3-byte code len 4 dist 1 after literal "Z"
    const src = Uint8Array.from([0x82, 0x61, 0x62, 0x63, (3 << 2) | 0, 2, 0x80, 0x5a, 0x40, 0x00, 0x00]);
    expect(new TextDecoder().decode(adcDecode(src, 14))).toBe('abcabcabcZZZZZ');
  });
  it('refuses matches before the start, truncation and output past the size', () => {
    expect(() => adcDecode(Uint8Array.from([0x00, 0x05]), 3)).toThrow(AdcError);
    expect(() => adcDecode(Uint8Array.from([0x85, 1, 2]), 6)).toThrow(AdcError);
    expect(() => adcDecode(Uint8Array.from([0x82, 1, 2, 3]), 2)).toThrow(AdcError);
    expect(() => adcDecode(Uint8Array.from([0x80, 1]), 2)).toThrow(AdcError);
  });
});

describe('LZFSE/LZVN (hand-made vectors)', () => {
  const raw = cat(enc('bvx-'), u32(5), enc('HELLO'));
  const lzvn = [
    0xe3, 0x61, 0x62, 0x63, // sml_l: "abc"
    0x30, 0x03, // sml_d: L=0 M=9 D=3
    0xf3, // sml_m: M=3 (previous D)
    0xa8, 0x05, 0x00, 0x78, // med_d: L=1 ("x") M=4 D=1
    0x07, 0x14, 0x00, // lrg_d: L=0 M=3 D=20 (reaches into the previous block)
    0x0e, // nop
    0x06, 0, 0, 0, 0, 0, 0, 0, // eos
  ];
  const expected = (() => {
    let s = 'HELLO' + 'abc' + 'abcabcabc' + 'abc' + 'x' + 'xxxx';
    for (let i = 0; i < 3; i++) s += s[s.length - 20];
    return s;
  })();
  const block = cat(enc('bvxn'), u32(expected.length - 5), u32(lzvn.length), lzvn);
  const stream = cat(raw, block, enc('bvx$'));

  it('decodes stored and LZVN blocks, matches across blocks', () => {
    expect(new TextDecoder().decode(lzfseDecode(stream, expected.length))).toBe(expected);
  });
  it('refuses output past the expected size, missing end marker, bad magic, bad distance', () => {
    expect(() => lzfseDecode(stream, expected.length - 1)).toThrow(LzfseError);
    expect(() => lzfseDecode(stream.subarray(0, stream.length - 4), expected.length)).toThrow(LzfseError);
    expect(() => lzfseDecode(cat(enc('bvxZ'), u32(1)), 1)).toThrow(LzfseError);
    const far = cat(enc('bvxn'), u32(3), u32(10), [0x07, 0xff, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0], enc('bvx$'));
    expect(() => lzfseDecode(far, 3)).toThrow(LzfseError);
  });
  it('random garbage never throws anything but LzfseError', () => {
    for (let i = 0; i < 300; i++) {
      const g = cat(enc(['bvx1', 'bvx2', 'bvxn'][i % 3]!), randomBytes(200 + (i % 50)));
      try {
        lzfseDecode(g, 4096);
      } catch (e) {
        expect(e).toBeInstanceOf(LzfseError);
      }
    }
  });
});

describeWithTools(['bzip2'], 'bzip2 decoder against bzip2(1)', () => {
  it('decodes random, repetitive (RLE1 runs), multi-block and empty inputs byte for byte', () => {
    const cases: Uint8Array[] = [
      new Uint8Array(randomBytes(70_000)),
      new Uint8Array(300_000).fill(0x41),
      Uint8Array.from({ length: 250_000 }, (_, i) => (i % 9 < 5 ? 7 : (i * 31) & 255)),
      cat(randomBytes(1000), new Uint8Array(5000), enc('aaaabbbbbccccccdddddddd'.repeat(500))),
    ];
    for (const [i, c] of cases.entries()) {
      for (const level of ['-1', '-9']) {
        const z = new Uint8Array(execFileSync('bzip2', ['-c', level], { input: c, maxBuffer: 1 << 26 }));
        expect(Buffer.compare(bunzip2(z, c.length), c), `case ${i} ${level}`).toBe(0);
      }
    }
  });
  it('refuses a stream decoding past the size, a bad CRC, truncation', () => {
    const c = new Uint8Array(randomBytes(10_000));
    const z = new Uint8Array(execFileSync('bzip2', ['-c'], { input: c }));
    expect(() => bunzip2(z, 9_999)).toThrow(Bzip2Error);
    expect(() => bunzip2(z.subarray(0, z.length - 20), 10_000)).toThrow(Bzip2Error);
    const bad = z.slice();
    bad[200] ^= 0x10;
    expect(() => bunzip2(bad, 10_000)).toThrow(Bzip2Error);
  });
});

describe('plist', () => {
  it('round-trips values and decodes entities', () => {
    const v = { a: 'x < y & z', n: 42, t: true, f: false, d: new Uint8Array([1, 2, 3, 250]), arr: [1, 'two', { three: 3 }], e: {} };
    const back = parsePlist(buildPlist(v)) as Record<string, unknown>;
    expect(back).toEqual(v);
    expect(parsePlist('<?xml version="1.0"?><plist version="1.0"><string>&#x41;&#66;&apos;</string></plist>')).toBe("AB'");
  });
  it('base64 matches Node', () => {
    for (let n = 0; n < 20; n++) {
      const b = new Uint8Array(randomBytes(n * 7));
      expect(base64Encode(b)).toBe(Buffer.from(b).toString('base64'));
      expect(base64Decode(Buffer.from(b).toString('base64'))).toEqual(b);
    }
  });
});

describe('crc32Combine', () => {
  it('equals the CRC32 of the concatenation', async () => {
    const { crc32 } = await import('@diskit/core');
    const { crc32Combine } = await import('./index.js');
    for (const [a, b] of [[0, 5], [7, 0], [1000, 1 << 20], [3, 77777]] as const) {
      const x = new Uint8Array(randomBytes(a)), y = new Uint8Array(randomBytes(b));
      const both = new Uint8Array(a + b);
      both.set(x);
      both.set(y, a);
      expect(crc32Combine(crc32(x), crc32(y), b)).toBe(crc32(both));
    }
    // zeros far past 4 GiB: the operator never touches the bytes
    expect(crc32Combine(crc32(new Uint8Array([1])), crc32(new Uint8Array(0)), 0)).toBe(crc32(new Uint8Array([1])));
  });
});
