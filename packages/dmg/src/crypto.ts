/**
 * The ciphers of encrypted DMGs, from WebCrypto (globalThis.crypto.subtle: Node ≥ 20 and browsers)
 * and des.js (3DES, which WebCrypto lacks). AES-CBC runs over many chunks per WebCrypto call: CBC
 * decryption of a long run with a zero IV gives every block D(Cᵢ) ⊕ Cᵢ₋₁, which is already right
 * inside each chunk; only a chunk's first block needs its own IV swapped in (16 bytes of XOR).
 */
import { UnsupportedFeatureError } from '@diskit/core';
import desjs from 'des.js';

/** A WebCrypto CryptoKey (this package builds without the DOM types). */
export type CryptoKey = { readonly type: string };
type Algo = Record<string, unknown> & { name: string };
/** The part of WebCrypto's SubtleCrypto used here. */
interface Subtle {
  importKey(format: 'raw', key: Uint8Array, algo: string | Algo, extractable: boolean, usages: string[]): Promise<CryptoKey>;
  deriveBits(algo: Algo, key: CryptoKey, bits: number): Promise<ArrayBuffer>;
  encrypt(algo: Algo, key: CryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algo: Algo, key: CryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
}

export function subtle(): Subtle {
  const s = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  if (!s) throw new UnsupportedFeatureError('encrypted DMG: WebCrypto (globalThis.crypto.subtle) is not available here');
  return s;
}

/** PBKDF2-HMAC-SHA1 of a passphrase: `bytes` bytes. */
export async function pbkdf2Sha1(password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number): Promise<Uint8Array> {
  const key = await subtle().importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt, iterations }, key, bytes * 8));
}

/** 3DES-EDE-CBC over whole 8-byte blocks (no padding: the caller checks it). */
export function tripleDesCbc(mode: 'encrypt' | 'decrypt', key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = desjs.CBC.instantiate(desjs.EDE).create({ type: mode, key: Array.from(key), iv: Array.from(iv), padding: false });
  return Uint8Array.from([...c.update(Array.from(data)), ...c.final()]);
}

/** AES-CBC over whole 16-byte blocks (WebCrypto pads; the padding block is made or dropped here). */
export async function aesCbc(mode: 'encrypt' | 'decrypt', key: CryptoKey, iv: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  if (mode === 'encrypt') return new Uint8Array(await subtle().encrypt({ name: 'AES-CBC', iv }, key, data), 0, data.length);
  return (await startDecrypt(key, iv, data)).result;
}

/**
 * Start a CBC decryption: resolves once the call is under way, to (a box holding) the promise of
 * its result. With `padRoom`, the 16 bytes after `data` in its buffer are free to hold the padding
 * block (no copy of the data).
 */
async function startDecrypt(key: CryptoKey, iv: Uint8Array, data: Uint8Array, padRoom = false): Promise<{ result: Promise<Uint8Array> }> {
  const last = data.length >= 16 ? data.subarray(data.length - 16) : iv;
  const pad = await padBlock(key, last);
  const whole = padRoom ? new Uint8Array(data.buffer, data.byteOffset, data.length + 16) : new Uint8Array(data.length + 16);
  if (!padRoom) whole.set(data);
  whole.set(pad, data.length);
  return { result: subtle().decrypt({ name: 'AES-CBC', iv }, key, whole).then((b) => new Uint8Array(b)) };
}

/** A block X that CBC-decrypts after `prev` to a full PKCS#7 padding block: X = E(prev ⊕ 0x10…). */
async function padBlock(key: CryptoKey, prev: Uint8Array): Promise<Uint8Array> {
  const e = await subtle().encrypt({ name: 'AES-CBC', iv: prev }, key, new Uint8Array(16).fill(16));
  return new Uint8Array(e, 0, 16);
}

export function importAesKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', raw, 'AES-CBC', false, ['encrypt', 'decrypt']);
}

/**
 * Decrypt `data` (whole chunks of `chunkSize` bytes, the first being chunk number `first`): one
 * WebCrypto call for the run, then each chunk's first block gets its IV. `padRoom`: see startDecrypt.
 */
export async function decryptChunks(key: CryptoKey, ivs: ChunkIvs, data: Uint8Array, first: number, chunkSize: number, padRoom = false): Promise<Uint8Array> {
  const pending = (await startDecrypt(key, new Uint8Array(16), data, padRoom)).result;
  // The IVs, each XORed with the ciphertext block before its chunk, while WebCrypto works (off
  // the main thread under Node): out = D(C) ⊕ C_prev (0 for the run's first block) becomes D(C) ⊕ IV.
  const fix = new Uint8Array(Math.ceil(data.length / chunkSize) * 16);
  for (let at = 0, n = first, k = 0; at < data.length; at += chunkSize, n++, k += 16) {
    ivs.iv(n, fix, k);
    if (at > 0) for (let i = 0; i < 16; i++) fix[k + i]! ^= data[at - 16 + i]!;
  }
  const out = await pending;
  for (let at = 0, k = 0; at < data.length; at += chunkSize, k += 16) for (let i = 0; i < 16; i++) out[at + i]! ^= fix[k + i]!;
  return out;
}

/** A synchronous AES-CBC encryption without padding (Node installs node:crypto's). */
export type SyncAesCbcEncrypt = (rawKey: Uint8Array, iv: Uint8Array, data: Uint8Array) => Uint8Array;
let syncEncrypt: SyncAesCbcEncrypt | undefined;
/**
 * CBC encryption cannot be batched: one call per 512-byte chunk. A WebCrypto call costs ~300 µs
 * of round trip here (measured: 2,048 chunks in 648 ms), node:crypto's ~5 µs (11 ms), so the Node
 * entry installs node:crypto for writing; browsers use WebCrypto.
 */
export function setSyncAesEncrypt(f: SyncAesCbcEncrypt | undefined): void {
  syncEncrypt = f;
}

/** Encrypt whole chunks, each under its own IV: synchronously where Node's cipher is installed, else many WebCrypto calls in flight. */
export async function encryptChunks(key: CryptoKey, ivs: ChunkIvs, data: Uint8Array, first: number, chunkSize: number, rawKey?: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(data.length);
  const jobs: Promise<void>[] = [];
  for (let at = 0, n = first; at < data.length; at += chunkSize, n++) {
    const iv = new Uint8Array(16);
    ivs.iv(n, iv, 0);
    const a = at;
    if (syncEncrypt && rawKey) out.set(syncEncrypt(rawKey, iv, data.subarray(a, a + chunkSize)), a);
    else jobs.push(aesCbc('encrypt', key, iv, data.subarray(a, a + chunkSize)).then((c) => out.set(c, a)));
  }
  await Promise.all(jobs);
  return out;
}

/**
 * The chunk IVs: HMAC-SHA1(hmacKey, chunk number as 4 big-endian bytes), first 16 bytes. Millions
 * per GiB, so the HMAC's inner and outer pad blocks are compressed once and each IV costs two
 * SHA-1 compressions in plain integer code (a WebCrypto call per IV costs ~20x more).
 */
export class ChunkIvs {
  private readonly inner: Int32Array;
  private readonly outer: Int32Array;
  private readonly w = new Int32Array(80);
  private readonly s = new Int32Array(5);

  constructor(hmacKey: Uint8Array) {
    if (hmacKey.length > 64) throw new UnsupportedFeatureError(`encrypted DMG: an HMAC key of ${hmacKey.length} bytes`);
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
