/**
 * The encrcdsa (v2) header of an encrypted DMG, big-endian, and its password key blob:
 *   0  "encrcdsa", version 2, IV size, mode, algorithm (AES), key bits (128/256), PRNG (HMAC-SHA1)
 *  36  UUID[16], chunk size (512), data size (u64), data offset (u64), key count
 *  76  key pointers {type, offset (u64), size (u64)}; type 1 = a passphrase key:
 *      {kdf (103 = PBKDF2), prng, iterations, salt length, salt[32], blob IV length, IV[32],
 *       blob key bits, blob algorithm (17 = 3DES-EDE), padding (7 = PKCS#7), mode (6 = CBC),
 *       blob length, blob[512]}
 * The blob, 3DES-CBC under PBKDF2-HMAC-SHA1(passphrase, salt, iterations, 24 bytes), holds the
 * AES key, the 20-byte HMAC-SHA1 key and "CKIE\0", PKCS#7-padded: the marker and the padding
 * tell a wrong passphrase from a right one.
 */
import { ByteWriter, CorruptImageError, DiskitError, UnsupportedFeatureError, ascii } from '@diskit/core';
import { pbkdf2Sha1, tripleDesCbc } from './crypto.js';

export const ENCRCDSA = 'encrcdsa';
export const KDF_PBKDF2 = 103;
export const ALG_3DES = 17;
export const ALG_AES = 0x80000001;
export const PADDING_PKCS7 = 7;
export const MODE_CBC = 6;
export const KEY_PASSPHRASE = 1;
const HMAC_KEY_BYTES = 20;
const MARKER = 'CKIE';
/** PBKDF2 rounds accepted: hdiutil picks ~250,000 by timing; 5M takes seconds, more would only stall on a hostile header. */
export const MAX_ITERATIONS = 5_000_000;
const MAX_KEYS = 16;
export const PASSWORD_KEY_SIZE = 616;

export class WrongPasswordError extends DiskitError {
  override name = 'WrongPasswordError';
}

export interface KeyPointer {
  type: number;
  offset: number;
  size: number;
}

export interface EncrcdsaHeader {
  version: number;
  ivSize: number;
  mode: number;
  algorithm: number;
  keyBits: number;
  prngAlgorithm: number;
  prngKeyBits: number;
  uuid: Uint8Array;
  chunkSize: number;
  dataSize: number;
  dataOffset: number;
  keys: KeyPointer[];
}

export interface PasswordKey {
  kdfAlgorithm: number;
  kdfPrng: number;
  iterations: number;
  salt: Uint8Array;
  blobIv: Uint8Array;
  blobKeyBits: number;
  blobAlgorithm: number;
  blobPadding: number;
  blobMode: number;
  blob: Uint8Array;
}

const u64 = (dv: DataView, o: number, what: string) => {
  const v = dv.getBigUint64(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptImageError(`encrcdsa ${what}`, o, 'a value below 2^53', v.toString());
  return Number(v);
};

/** Decode the v2 header; every count and offset is checked against `fileSize`. */
export function decodeEncrcdsa(b: Uint8Array, fileSize: number): EncrcdsaHeader {
  if (b.length < 76) throw new CorruptImageError('encrcdsa header', 0, '76 bytes', `${b.length}`);
  if (ascii(b, 0, 8) !== ENCRCDSA) throw new CorruptImageError('encrcdsa header', 0, `signature "${ENCRCDSA}"`, JSON.stringify(ascii(b, 0, 8)));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const h: EncrcdsaHeader = {
    version: dv.getUint32(8), ivSize: dv.getUint32(12), mode: dv.getUint32(16), algorithm: dv.getUint32(20),
    keyBits: dv.getUint32(24), prngAlgorithm: dv.getUint32(28), prngKeyBits: dv.getUint32(32), uuid: b.slice(36, 52),
    chunkSize: dv.getUint32(52), dataSize: u64(dv, 56, 'dataSize'), dataOffset: u64(dv, 64, 'dataOffset'), keys: [],
  };
  if (h.version !== 2) throw new UnsupportedFeatureError(`not supported: encrcdsa version ${h.version}`);
  if (h.algorithm !== ALG_AES || (h.keyBits !== 128 && h.keyBits !== 256)) {
    throw new UnsupportedFeatureError(`not supported: encrypted DMG cipher 0x${h.algorithm.toString(16)} with ${h.keyBits}-bit keys (AES-128/256 are)`);
  }
  if (h.ivSize !== 16) throw new CorruptImageError('encrcdsa ivSize', 12, '16', `${h.ivSize}`);
  if (h.chunkSize < 16 || h.chunkSize > 1 << 20 || h.chunkSize % 16) throw new CorruptImageError('encrcdsa chunkSize', 52, 'a multiple of 16 up to 1 MiB', `${h.chunkSize}`);
  const chunks = Math.ceil(h.dataSize / h.chunkSize);
  if (h.dataOffset + chunks * h.chunkSize > fileSize) {
    throw new CorruptImageError('encrcdsa data', 56, `${chunks} chunks of ${h.chunkSize} bytes from offset ${h.dataOffset} within the file (${fileSize} bytes)`, `${h.dataSize} bytes of data`);
  }
  const count = dv.getUint32(72);
  if (count === 0 || count > MAX_KEYS || 76 + count * 20 > b.length) throw new CorruptImageError('encrcdsa keyCount', 72, `1..${MAX_KEYS} keys within the header`, `${count}`);
  for (let i = 0, o = 76; i < count; i++, o += 20) {
    const k = { type: dv.getUint32(o), offset: u64(dv, o + 4, `key ${i} offset`), size: u64(dv, o + 12, `key ${i} size`) };
    if (k.size > 1 << 16 || k.offset + k.size > Math.min(fileSize, h.dataOffset)) {
      throw new CorruptImageError(`encrcdsa key ${i}`, o, 'a key header before the data', `[${k.offset}, +${k.size})`);
    }
    h.keys.push(k);
  }
  return h;
}

/** Decode a passphrase key header (type 1) found at file offset `at`. */
export function decodePasswordKey(b: Uint8Array, at: number): PasswordKey {
  if (b.length < 104) throw new CorruptImageError('encrcdsa password key', at, 'at least 104 bytes', `${b.length}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const saltLen = dv.getUint32(12), ivLen = dv.getUint32(48), blobLen = dv.getUint32(100);
  if (saltLen > 32) throw new CorruptImageError('encrcdsa salt length', at + 12, 'at most 32', `${saltLen}`);
  if (ivLen > 32) throw new CorruptImageError('encrcdsa blob IV length', at + 48, 'at most 32', `${ivLen}`);
  if (104 + blobLen > b.length || blobLen > 512) throw new CorruptImageError('encrcdsa key blob length', at + 100, `at most ${Math.min(512, b.length - 104)}`, `${blobLen}`);
  return {
    kdfAlgorithm: dv.getUint32(0), kdfPrng: dv.getUint32(4), iterations: dv.getUint32(8), salt: b.slice(16, 16 + saltLen),
    blobIv: b.slice(52, 52 + ivLen), blobKeyBits: dv.getUint32(84), blobAlgorithm: dv.getUint32(88),
    blobPadding: dv.getUint32(92), blobMode: dv.getUint32(96), blob: b.slice(104, 104 + blobLen),
  };
}

export interface ImageKeys {
  aesKey: Uint8Array;
  hmacKey: Uint8Array;
}

/** The AES and HMAC keys from a passphrase key blob, or WrongPasswordError. */
export async function unwrapKeys(k: PasswordKey, keyBits: number, password: string, at: number): Promise<ImageKeys> {
  if (k.kdfAlgorithm !== KDF_PBKDF2) throw new UnsupportedFeatureError(`not supported: encrypted DMG key derivation ${k.kdfAlgorithm} (PBKDF2 = 103 is)`);
  if (k.iterations < 1 || k.iterations > MAX_ITERATIONS) throw new CorruptImageError('encrcdsa iterations', at + 8, `1..${MAX_ITERATIONS}`, `${k.iterations}`);
  if (k.blobAlgorithm !== ALG_3DES || k.blobKeyBits !== 192 || k.blobMode !== MODE_CBC || k.blobPadding !== PADDING_PKCS7) {
    throw new UnsupportedFeatureError(`not supported: encrypted DMG key blob wrapped with algorithm ${k.blobAlgorithm} mode ${k.blobMode} (${k.blobKeyBits} bits; 3DES-EDE-CBC is)`);
  }
  if (k.blobIv.length < 8) throw new CorruptImageError('encrcdsa blob IV length', at + 48, 'at least 8', `${k.blobIv.length}`);
  if (k.blob.length === 0 || k.blob.length % 8) throw new CorruptImageError('encrcdsa key blob length', at + 100, 'a multiple of 8', `${k.blob.length}`);
  const kek = await pbkdf2Sha1(new TextEncoder().encode(password), k.salt, k.iterations, 24);
  const plain = tripleDesCbc('decrypt', kek, k.blobIv.subarray(0, 8), k.blob);
  const pad = plain[plain.length - 1]!;
  const keyBytes = keyBits / 8;
  const padded = pad >= 1 && pad <= 8 && plain.subarray(plain.length - pad).every((x) => x === pad);
  const body = plain.subarray(0, plain.length - (padded ? pad : 0));
  if (!padded || body.length < keyBytes + HMAC_KEY_BYTES + MARKER.length || ascii(body, keyBytes + HMAC_KEY_BYTES, MARKER.length) !== MARKER) {
    throw new WrongPasswordError('wrong password for the encrypted DMG');
  }
  return { aesKey: body.slice(0, keyBytes), hmacKey: body.slice(keyBytes, keyBytes + HMAC_KEY_BYTES) };
}

/** A passphrase key header (616 bytes, as hdiutil's) wrapping `keys` under `password`. */
export async function wrapKeys(keys: ImageKeys, password: string, iterations: number, salt: Uint8Array, iv: Uint8Array): Promise<Uint8Array> {
  const body = new Uint8Array(keys.aesKey.length + HMAC_KEY_BYTES + MARKER.length + 1);
  body.set(keys.aesKey);
  body.set(keys.hmacKey, keys.aesKey.length);
  body.set(new TextEncoder().encode(MARKER), keys.aesKey.length + HMAC_KEY_BYTES);
  const pad = 8 - (body.length % 8);
  const plain = new Uint8Array(body.length + pad).fill(pad);
  plain.set(body);
  const kek = await pbkdf2Sha1(new TextEncoder().encode(password), salt, iterations, 24);
  const blob = tripleDesCbc('encrypt', kek, iv, plain);
  const w = new ByteWriter(PASSWORD_KEY_SIZE);
  w.u32be(0, KDF_PBKDF2).u32be(4, 0).u32be(8, iterations).u32be(12, salt.length).bytesAt(16, salt)
    .u32be(48, iv.length).bytesAt(52, iv).u32be(84, 192).u32be(88, ALG_3DES).u32be(92, PADDING_PKCS7).u32be(96, MODE_CBC)
    .u32be(100, blob.length).bytesAt(104, blob);
  return w.bytes;
}

/** The v2 header with one passphrase key at `keyOffset`. */
export function encodeEncrcdsa(h: Omit<EncrcdsaHeader, 'version' | 'keys'>, keyOffset: number, keySize: number): Uint8Array {
  const w = new ByteWriter(96);
  w.ascii(0, ENCRCDSA).u32be(8, 2).u32be(12, h.ivSize).u32be(16, h.mode).u32be(20, h.algorithm).u32be(24, h.keyBits)
    .u32be(28, h.prngAlgorithm).u32be(32, h.prngKeyBits).bytesAt(36, h.uuid).u32be(52, h.chunkSize)
    .u64be(56, h.dataSize).u64be(64, h.dataOffset).u32be(72, 1)
    .u32be(76, KEY_PASSPHRASE).u64be(80, keyOffset).u64be(88, keySize);
  return w.bytes;
}
