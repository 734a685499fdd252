import type { BlockDevice, FormatDriver, FilesystemDriver, Image, OpenOptions, ProbeInput } from '@diskit/core';
import { ascii, UnsupportedFeatureError } from '@diskit/core';
import { EncryptedDevice, EncryptedImage, holdsUdif } from './encrypted.js';
import { ENCRCDSA } from './encrcdsa.js';
import { DmgImage } from './image.js';
import { sniffUnsupported } from './table.js';
import { createDmgMaybeEncrypted } from './encrypt-write.js';
import { sparseimageDriver, SparseImage } from './sparseimage/index.js';
import { sparsebundleDriver } from './sparsebundle/index.js';

export * from './udif.js';
export * from './plist.js';
export * from './image.js';
export * from './table.js';
export { StreamVerifier, zeroCrc } from './verify.js';
export * from './encrcdsa.js';
export { EncryptingSink, createDmgMaybeEncrypted } from './encrypt-write.js';
export { EncryptedDevice, EncryptedImage } from './encrypted.js';
export { ChunkIvs, decryptChunks, encryptChunks, pbkdf2Sha1, tripleDesCbc, setSyncAesEncrypt } from './crypto.js';
export { blkxCrc } from './check.js';
export * from './writer.js';
export { adcDecode, AdcError } from './adc.js';
export { lzfseDecode } from './lzfse.js';
export { lzvnDecode, LzfseError } from './lzvn.js';
export { bunzip2, makeBunzip2, Bzip2Error } from './bzip2.js';
export { bzip2Encode } from './bzip2-encode.js';
export { crc32Combine } from './crc-combine.js';
export * from './sparseimage/index.js';
export * from './sparsebundle/index.js';
export { codecs, codecsReady, setCodecs, pureCodecs, unxz, CodecError, type Codecs } from './codecs.js';

export const dmgDriver: FormatDriver = {
  name: 'dmg',
  aliases: ['udif', 'udzo', 'udro', 'udbz', 'ulmo'],
  description: 'Apple disk image (UDIF .dmg): zlib, bzip2, ADC, LZFSE, LZMA and raw chunks; writes UDZO/UDRO/UDBZ',
  probe(input: ProbeInput): number {
    try {
      const t = input.tail;
      if (t.length >= 512 && ascii(t, t.length - 512, 4) === 'koly') return 95;
      if (ascii(input.head, 0, 8) === ENCRCDSA) return 95;
      if (t.length >= 8 && ascii(t, t.length - 8, 8) === 'cdsaencr') return 60; // v1: refused by open()
      if (sniffUnsupported(input.head)) return 60;
    } catch {
      /* never throw */
    }
    return 0;
  },
  async open(file: BlockDevice, opts: OpenOptions = {}): Promise<Image> {
    const head = new Uint8Array(Math.min(8, file.size));
    await file.read(head, 0);
    if (ascii(head, 0, 8) !== ENCRCDSA) {
      const tail = new Uint8Array(Math.min(8, file.size));
      await file.read(tail, file.size - tail.length);
      // The v1 header is a trailer ending in its signature (vfdecrypt's cencrypted_v1_header).
      if (ascii(tail, 0, 8) === 'cdsaencr') throw new UnsupportedFeatureError('not supported: v1 encrypted DMG (cdsaencr trailer)');
      return DmgImage.open(file, { name: opts.name, verify: opts.verify });
    }
    // Encrypted: a decrypting device under the ordinary UDIF (or raw) reader.
    if (!opts.password) throw new UnsupportedFeatureError('encrypted DMG: a password is needed (--password-file FILE, DISKIT_PASSWORD, or a terminal)');
    const dev = await EncryptedDevice.open(file, await opts.password());
    // Inside: a UDIF (koly at the end), a sparse image (sprs), or a raw disk.
    const inner = (await holdsUdif(dev))
      ? await DmgImage.open(dev, { name: opts.name, verify: opts.verify })
      : (await SparseImage.holds(dev)) ? await SparseImage.open(dev) : dev;
    return new EncryptedImage(dev, inner);
  },
  create: createDmgMaybeEncrypted,
};

export const formats: FormatDriver[] = [dmgDriver, sparseimageDriver, sparsebundleDriver];
export const filesystems: FilesystemDriver[] = [];
