/**
 * Writing encrypted DMGs (`-o encryption=aes-128|aes-256`): the ordinary UDIF writer writes into
 * a sink that encrypts, as hdiutil lays them out: the encrcdsa header at 0, one passphrase key
 * (616 bytes) at 96, the data from offset 122,368 in 512-byte AES-CBC chunks, each with IV =
 * HMAC-SHA1(hmac key, chunk number)[0..16]; the keys wrapped with 3DES under PBKDF2-HMAC-SHA1.
 */
import { UsageError, type BlockDevice, type CreateOptions, type ImageSink } from '@diskit/core';
import { ChunkIvs, encryptChunks, importAesKey, type CryptoKey } from './crypto.js';
import { ALG_AES, MAX_ITERATIONS, PASSWORD_KEY_SIZE, encodeEncrcdsa, wrapKeys } from './encrcdsa.js';
import { createDmg } from './writer.js';

export const ENCRYPTED_DATA_OFFSET = 122_368;
const KEY_OFFSET = 96;
const CHUNK = 512;
/** hdiutil calibrates its PBKDF2 rounds to the machine (the shared AES image has 232,558). */
export const DEFAULT_ITERATIONS = 250_000;
const BATCH = 1 << 20;

function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  (globalThis as unknown as { crypto: { getRandomValues(b: Uint8Array): Uint8Array } }).crypto.getRandomValues(b);
  return b;
}

/** An ImageSink that encrypts what is written to it, in order, into `out`. */
export class EncryptingSink implements ImageSink {
  private buf = new Uint8Array(BATCH * 2);
  private bufLen = 0;
  /** Plain offset of buf[0]: always a whole number of chunks. */
  private bufStart = 0;

  private constructor(
    private readonly out: ImageSink,
    private readonly key: CryptoKey,
    private readonly rawKey: Uint8Array,
    private readonly ivs: ChunkIvs,
    private readonly header: (dataSize: number) => Promise<Uint8Array[]>,
  ) {}

  static async create(out: ImageSink, keyBits: 128 | 256, password: string, iterations = DEFAULT_ITERATIONS): Promise<EncryptingSink> {
    const keys = { aesKey: random(keyBits / 8), hmacKey: random(20) };
    const salt = random(20), blobIv = random(8), uuid = random(16);
    const passwordKey = await wrapKeys(keys, password, iterations, salt, blobIv);
    const header = async (dataSize: number) => [
      encodeEncrcdsa({
        ivSize: 16, mode: 5, algorithm: ALG_AES, keyBits, prngAlgorithm: 91, prngKeyBits: 160, uuid,
        chunkSize: CHUNK, dataSize, dataOffset: ENCRYPTED_DATA_OFFSET,
      }, KEY_OFFSET, PASSWORD_KEY_SIZE),
      passwordKey,
    ];
    return new EncryptingSink(out, await importAesKey(keys.aesKey), keys.aesKey, new ChunkIvs(keys.hmacKey), header);
  }

  async write(from: Uint8Array, offset: number): Promise<void> {
    const end = this.bufStart + this.bufLen;
    if (offset < end) throw new Error(`encrypted DMG writer: writes must come in order (${offset} after ${end})`);
    const need = offset - this.bufStart + from.length;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.bufLen));
      this.buf = next;
    }
    this.buf.fill(0, this.bufLen, offset - this.bufStart);
    this.buf.set(from, offset - this.bufStart);
    this.bufLen = need;
    if (this.bufLen >= BATCH) await this.drain(false);
  }

  /** Encrypt and write the buffered whole chunks (all of it, zero-padded, when `last`). */
  private async drain(last: boolean): Promise<void> {
    const whole = last ? Math.ceil(this.bufLen / CHUNK) * CHUNK : Math.floor(this.bufLen / CHUNK) * CHUNK;
    if (whole === 0) return;
    this.buf.fill(0, this.bufLen, whole);
    const enc = await encryptChunks(this.key, this.ivs, this.buf.subarray(0, whole), this.bufStart / CHUNK, CHUNK, this.rawKey);
    await this.out.write(enc, ENCRYPTED_DATA_OFFSET + this.bufStart);
    this.buf.copyWithin(0, whole, Math.max(whole, this.bufLen));
    this.bufLen = Math.max(0, this.bufLen - whole);
    this.bufStart += whole;
  }

  /** The UDIF is complete at `size` bytes: the last chunk and the header are written. */
  async truncate(size: number): Promise<void> {
    if (size !== this.bufStart + this.bufLen) {
      if (size < this.bufStart) throw new Error('encrypted DMG writer: cannot cut written data');
      if (size > this.bufStart + this.bufLen) await this.write(new Uint8Array(0), size);
      this.bufLen = size - this.bufStart;
    }
    await this.drain(true);
    const [head, key] = await this.header(size);
    await this.out.write(head!, 0);
    await this.out.write(key!, KEY_OFFSET);
    await this.out.truncate(ENCRYPTED_DATA_OFFSET + Math.ceil(size / CHUNK) * CHUNK);
  }

  async flush(): Promise<void> {
    await this.out.flush?.();
  }
}

/** The driver's create: plain UDIF, or (with `encryption=`) UDIF written through an EncryptingSink. */
export async function createDmgMaybeEncrypted(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
  const { encryption, iterations, ...options } = opts.options ?? {};
  if (encryption === undefined || encryption === 'none') {
    if (iterations !== undefined) throw new UsageError('dmg: iterations= goes with encryption=aes-128 or aes-256');
    return createDmg(source, sink, { ...opts, options });
  }
  const bits = encryption === 'aes-128' ? 128 : encryption === 'aes-256' ? 256 : undefined;
  if (!bits) throw new UsageError(`dmg: unknown encryption "${encryption}" (aes-128, aes-256, none)`);
  const rounds = iterations === undefined ? DEFAULT_ITERATIONS : Number(iterations);
  if (!Number.isInteger(rounds) || rounds < 1000 || rounds > MAX_ITERATIONS) throw new UsageError(`dmg: iterations must be 1000..${MAX_ITERATIONS}, got "${iterations}"`);
  if (!opts.password) throw new UsageError('dmg: encryption needs a password (--password-file FILE or DISKIT_PASSWORD)');
  const password = await opts.password();
  if (password.length === 0) throw new UsageError('dmg: the password is empty');
  const enc = await EncryptingSink.create(sink, bits, password, rounds);
  await createDmg(source, enc, { ...opts, options });
  await enc.flush();
}
