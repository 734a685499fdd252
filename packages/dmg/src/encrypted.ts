/**
 * Reading encrypted DMGs: a BlockDevice that decrypts an encrcdsa file (so the UDIF driver, or a
 * raw disk, sits on top of it unchanged), and the Image that wraps what is inside.
 */
import {
  DeviceRangeError, TruncatedImageError, UnsupportedFeatureError, ascii, checkRange, extentWindow,
  type BlockDevice, type CheckReport, type Extent, type Image, type Inspection,
} from '@diskit/core';
import { ChunkIvs, decryptChunks, importAesKey, installedRunDecryptor, type CryptoKey } from './crypto.js';
import { KEY_PASSPHRASE, WrongPasswordError, decodeEncrcdsa, decodePasswordKey, unwrapKeys, type EncrcdsaHeader } from './encrcdsa.js';
import { KOLY_SIZE } from './udif.js';

/** Chunks decrypted per WebCrypto call (and calls in flight for one read). */
const BATCH_BYTES = 1 << 20;
const HEADER_BYTES = 64 << 10;
const IN_FLIGHT = 4;

export class EncryptedDevice implements BlockDevice {
  readonly readOnly = true;
  readonly size: number;

  private constructor(
    readonly file: BlockDevice,
    readonly header: EncrcdsaHeader,
    private readonly key: CryptoKey,
    private readonly ivs: ChunkIvs,
    /** The raw keys, for a RunDecryptor (never shown). */
    private readonly raw: { aesKey: Uint8Array; hmacKey: Uint8Array },
  ) {
    this.size = header.dataSize;
  }

  /** Open with `password`: WrongPasswordError when no passphrase key of the image takes it. */
  static async open(file: BlockDevice, password: string): Promise<EncryptedDevice> {
    const head = new Uint8Array(Math.min(file.size, HEADER_BYTES));
    await file.read(head, 0);
    const h = decodeEncrcdsa(head, file.size);
    const slots = h.keys.filter((k) => k.type === KEY_PASSPHRASE);
    if (slots.length === 0) throw new UnsupportedFeatureError('not supported: an encrypted DMG with no passphrase key (certificate keys only)');
    let wrong: unknown;
    for (const slot of slots) {
      if (slot.offset + slot.size > file.size) throw new TruncatedImageError('encrcdsa password key', slot.offset, slot.size, file.size);
      const raw = new Uint8Array(slot.size);
      await file.read(raw, slot.offset);
      try {
        const keys = await unwrapKeys(decodePasswordKey(raw, slot.offset), h.keyBits, password, slot.offset);
        return new EncryptedDevice(file, h, await importAesKey(keys.aesKey), new ChunkIvs(keys.hmacKey), keys);
      } catch (e) {
        if (!(e instanceof WrongPasswordError)) throw e;
        wrong = e;
      }
    }
    throw wrong;
  }

  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    if (into.length === 0) return;
    const cs = this.header.chunkSize;
    const first = Math.floor(offset / cs);
    const end = Math.ceil((offset + into.length) / cs);
    // Whole chunks in ~1 MiB runs, a few decrypted at once (WebCrypto works off the main thread
    // under Node); at most IN_FLIGHT runs' buffers are held, however large the read.
    const per = Math.max(1, Math.floor(BATCH_BYTES / cs));
    let next = first;
    const lane = async () => {
      for (let c = next; c < end; c = next) {
        const n = Math.min(per, end - c);
        next = c + n;
        const elsewhere = installedRunDecryptor();
        // 16 spare bytes after the ciphertext: room for the padding block WebCrypto wants.
        const enc = elsewhere ? this.buffer(n * cs) : new Uint8Array(n * cs + 16).subarray(0, n * cs);
        await this.file.read(enc, this.header.dataOffset + c * cs);
        const plain = elsewhere
          ? await elsewhere(this.raw.aesKey, this.raw.hmacKey, enc, c, cs)
          : await decryptChunks(this.key, this.ivs, enc, c, cs, true);
        const from = Math.max(offset, c * cs), to = Math.min(offset + into.length, (c + n) * cs);
        into.set(plain.subarray(from - c * cs, to - c * cs), from - offset);
        if (elsewhere && this.spare.length < IN_FLIGHT && plain.byteOffset === 0) this.spare.push(plain.buffer as ArrayBuffer);
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, Math.ceil((end - first) / per)) }, lane));
  }

  /** Buffers a RunDecryptor handed back, reused for later runs (fresh 1 MiB buffers cost page faults and GC). */
  private readonly spare: ArrayBuffer[] = [];
  private buffer(bytes: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.byteLength >= bytes);
    const b = i >= 0 ? this.spare.splice(i, 1)[0]! : new ArrayBuffer(Math.max(bytes, BATCH_BYTES));
    return new Uint8Array(b, 0, bytes);
  }

  async write(): Promise<void> {
    throw new DeviceRangeError('encrypted DMGs are read-only');
  }

  async *extents(offset?: number, length?: number): AsyncIterable<Extent> {
    const [start, end] = extentWindow(this.size, offset, length);
    if (end > start) yield { offset: start, length: end - start, kind: 'data' };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    await this.file.close();
  }

  /** The header's facts for info and dump (never a key). */
  describe(): Record<string, unknown> {
    const h = this.header;
    return {
      container: 'encrcdsa', version: h.version, cipher: `AES-${h.keyBits}-CBC`, chunkSize: h.chunkSize, dataOffset: h.dataOffset,
      dataSize: h.dataSize, keys: h.keys.map((k) => (k.type === KEY_PASSPHRASE ? 'passphrase' : `type ${k.type}`)),
    };
  }
}

/** The image inside an encrypted DMG: a UDIF (koly at its end) or a raw disk, opened on the decrypting device. */
export class EncryptedImage implements Image {
  readonly format = 'dmg';
  readonly readOnly = true;
  readonly variant: string;
  constructor(
    readonly device: EncryptedDevice,
    readonly inner: BlockDevice & Partial<Image>,
  ) {
    this.variant = `${inner.variant ?? 'raw'} (encrypted, AES-${device.header.keyBits})`;
  }
  get size(): number {
    return this.inner.size;
  }
  read(into: Uint8Array, offset: number): Promise<void> {
    return this.inner.read(into, offset);
  }
  write(): Promise<void> {
    return this.device.write();
  }
  extents(offset?: number, length?: number): AsyncIterable<Extent> {
    return this.inner.extents(offset, length);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    await this.inner.close();
  }
  async info(): Promise<Record<string, unknown>> {
    return { encryption: this.device.describe(), ...((await this.inner.info?.()) ?? {}) };
  }
  async inspect(): Promise<Inspection> {
    const ins = await this.inner.inspect?.();
    const h = this.device.header;
    return {
      format: 'dmg', variant: this.variant, virtualSize: this.size,
      structures: [
        { name: 'encrcdsa', offset: 0, size: 76 + h.keys.length * 20, fields: this.device.describe() },
        // The inner image's offsets are in the decrypted data.
        ...(ins?.structures ?? []).map((s) => ({ ...s, name: `decrypted ${s.name}` })),
      ],
    };
  }
  async check(): Promise<CheckReport> {
    return (await this.inner.check?.()) ?? { problems: [] };
  }
}

/** Does the decrypted data end with a koly trailer (an ordinary UDIF inside)? */
export async function holdsUdif(dev: BlockDevice): Promise<boolean> {
  if (dev.size < KOLY_SIZE) return false;
  const tail = new Uint8Array(4);
  await dev.read(tail, dev.size - KOLY_SIZE);
  return ascii(tail, 0, 4) === 'koly';
}
