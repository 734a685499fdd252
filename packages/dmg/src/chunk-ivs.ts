/**
 * The chunk IVs of encrypted DMGs, made by a self-contained factory so that the Node entry's
 * decryption workers can be given its source (no imports inside it).
 */
import { UnsupportedFeatureError } from '@diskit/core';

/** Chunk IVs for one HMAC key: `iv(n, out, at)` writes chunk n's 16-byte IV. */
export interface ChunkIvs {
  iv(n: number, out: Uint8Array, at: number): void;
}

/** Builds the ChunkIvs class; `Refused` is the error for an HMAC key longer than a block. */
export function makeChunkIvs(Refused: new (message: string) => Error): new (hmacKey: Uint8Array) => ChunkIvs {
  /**
   * The chunk IVs: HMAC-SHA1(hmacKey, chunk number as 4 big-endian bytes), first 16 bytes. Millions
   * per GiB, so the HMAC's inner and outer pad blocks are compressed once and each IV costs two
   * SHA-1 compressions in plain integer code (a WebCrypto call per IV costs ~20x more).
   */
  class ChunkIvs {
    private readonly inner: Int32Array;
    private readonly outer: Int32Array;
    private readonly w = new Int32Array(80);
    private readonly s = new Int32Array(5);

    constructor(hmacKey: Uint8Array) {
      if (hmacKey.length > 64) throw new Refused(`encrypted DMG: an HMAC key of ${hmacKey.length} bytes`);
      const pad = (x: number) => {
        const block = new Uint8Array(64).fill(x);
        for (let i = 0; i < hmacKey.length; i++) block[i]! ^= hmacKey[i]!;
        const st = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);
        const dv = new DataView(block.buffer);
        for (let i = 0; i < 16; i++) this.w[i] = dv.getInt32(i * 4);
        sha1Compress(st, st, this.w);
        return st;
      };
      this.inner = pad(0x36);
      this.outer = pad(0x5c);
    }

    /** Write chunk `n`'s 16-byte IV into `out` at `at`. */
    iv(n: number, out: Uint8Array, at: number): void {
      const w = this.w, s = this.s;
      w.fill(0, 0, 16);
      w[0] = n | 0;
      w[1] = 0x80000000 | 0;
      w[15] = (64 + 4) * 8;
      sha1Compress(s, this.inner, w);
      w.fill(0, 0, 16);
      w[0] = s[0]!; w[1] = s[1]!; w[2] = s[2]!; w[3] = s[3]!; w[4] = s[4]!;
      w[5] = 0x80000000 | 0;
      w[15] = (64 + 20) * 8;
      sha1Compress(s, this.outer, w);
      for (let i = 0; i < 4; i++) {
        const v = s[i]!;
        out[at + i * 4] = v >>> 24;
        out[at + i * 4 + 1] = v >>> 16;
        out[at + i * 4 + 2] = v >>> 8;
        out[at + i * 4 + 3] = v;
      }
    }
  }

  /**
   * One SHA-1 compression of the 16 words in w[0..16) (w is the 80-word schedule) from `from` into
   * `to`. Int32 arithmetic throughout (Uint32 values past 2^31 would make V8 use doubles: 10x slower).
   */
  function sha1Compress(to: Int32Array, from: Int32Array, w: Int32Array): void {
    for (let i = 16; i < 80; i++) {
      const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = from[0]!, b = from[1]!, c = from[2]!, d = from[3]!, e = from[4]!, t = 0;
    for (let i = 0; i < 20; i++) {
      t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + w[i]! + 0x5a827999) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (let i = 20; i < 40; i++) {
      t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i]! + 0x6ed9eba1) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (let i = 40; i < 60; i++) {
      t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + w[i]! + 0x8f1bbcdc) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (let i = 60; i < 80; i++) {
      t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[i]! + 0xca62c1d6) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    to[0] = (from[0]! + a) | 0;
    to[1] = (from[1]! + b) | 0;
    to[2] = (from[2]! + c) | 0;
    to[3] = (from[3]! + d) | 0;
    to[4] = (from[4]! + e) | 0;
  }
  return ChunkIvs;
}

export const ChunkIvs = makeChunkIvs(UnsupportedFeatureError);
