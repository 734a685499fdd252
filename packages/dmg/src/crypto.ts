/**
 * The ciphers of encrypted DMGs, from WebCrypto (globalThis.crypto.subtle: Node ≥ 20 and browsers)
 * and des.js (3DES, which WebCrypto lacks). AES-CBC runs over many chunks per WebCrypto call: CBC
 * decryption of a long run with a zero IV gives every block D(Cᵢ) ⊕ Cᵢ₋₁, which is already right
 * inside each chunk; only a chunk's first block needs its own IV swapped in (16 bytes of XOR).
 */
import { UnsupportedFeatureError } from '@diskit/core';
import desjs from 'des.js';
import { ChunkIvs } from './chunk-ivs.js';

export { ChunkIvs };

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
  // The fixes are made while WebCrypto works (off the main thread under Node).
  const fixes = chunkFixes(ivs, data, first, chunkSize);
  const out = await pending;
  applyChunkFixes(out, fixes, chunkSize);
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
 * A whole-run decryption done elsewhere (the Node entry installs one on worker threads with
 * node:crypto): the result of decryptChunks for the chunks in `data`, which it may take over.
 */
export type RunDecryptor = (rawKey: Uint8Array, hmacKey: Uint8Array, data: Uint8Array, first: number, chunkSize: number) => Promise<Uint8Array>;
let runDecryptor: RunDecryptor | undefined;
export function setRunDecryptor(f: RunDecryptor | undefined): void {
  runDecryptor = f;
}
export function installedRunDecryptor(): RunDecryptor | undefined {
  return runDecryptor;
}

/**
 * A zero-IV CBC decryption of a run of chunks gives out = D(C) ⊕ C_prev (0 for the run's first
 * block) at each chunk's first block; XORing in C_prev ⊕ IV makes it D(C) ⊕ IV. These 16-byte
 * fixes, one per chunk, are taken from the ciphertext before it is decrypted (or overwritten).
 * Self-contained (the decryption workers get its source); 32-bit XORs where aligned.
 */
export function chunkFixes(ivs: ChunkIvs, data: Uint8Array, first: number, chunkSize: number): Uint8Array {
  const fix = new Uint8Array(Math.ceil(data.length / chunkSize) * 16);
  const f32 = new Int32Array(fix.buffer);
  const aligned = data.byteOffset % 4 === 0 && chunkSize % 4 === 0;
  const d32 = aligned ? new Int32Array(data.buffer, data.byteOffset, data.length >> 2) : undefined;
  for (let at = 0, n = first, k = 0; at < data.length; at += chunkSize, n++, k += 16) {
    ivs.iv(n, fix, k);
    if (at === 0) continue;
    if (d32) {
      const q = k >> 2, p = (at >> 2) - 4;
      f32[q] ^= d32[p]!; f32[q + 1] ^= d32[p + 1]!; f32[q + 2] ^= d32[p + 2]!; f32[q + 3] ^= d32[p + 3]!;
    } else for (let i = 0; i < 16; i++) fix[k + i] ^= data[at - 16 + i]!;
  }
  return fix;
}

/** XOR each chunk's fix (see chunkFixes) into its first block of the decrypted run. Self-contained. */
export function applyChunkFixes(out: Uint8Array, fix: Uint8Array, chunkSize: number): void {
  const f32 = new Int32Array(fix.buffer, fix.byteOffset, fix.length >> 2);
  const aligned = out.byteOffset % 4 === 0 && chunkSize % 4 === 0;
  const o32 = aligned ? new Int32Array(out.buffer, out.byteOffset, out.length >> 2) : undefined;
  for (let at = 0, k = 0; at < out.length; at += chunkSize, k += 16) {
    if (o32) {
      const q = k >> 2, p = at >> 2;
      o32[p] ^= f32[q]!; o32[p + 1] ^= f32[q + 1]!; o32[p + 2] ^= f32[q + 2]!; o32[p + 3] ^= f32[q + 3]!;
    } else for (let i = 0; i < 16; i++) out[at + i] ^= fix[k + i]!;
  }
}
