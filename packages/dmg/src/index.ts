import type { BlockDevice, FormatDriver, FilesystemDriver, Image, OpenOptions, ProbeInput } from '@diskit/core';
import { ascii } from '@diskit/core';
import { DmgImage, sniffUnsupported } from './image.js';
import { createDmg } from './writer.js';
import { sparseimageDriver } from './sparseimage/index.js';
import { sparsebundleDriver } from './sparsebundle/index.js';

export * from './udif.js';
export * from './plist.js';
export * from './image.js';
export * from './writer.js';
export { adcDecode, AdcError } from './adc.js';
export { lzfseDecode, lzvnDecode, LzfseError } from './lzfse.js';
export { bunzip2, makeBunzip2, Bzip2Error } from './bzip2.js';
export { bzip2Encode } from './bzip2-encode.js';
export { crc32Combine } from './crc-combine.js';
export * from './sparseimage/index.js';
export * from './sparsebundle/index.js';
export { codecs, codecsReady, setCodecs, pureCodecs, CodecError, type Codecs } from './codecs.js';

export const dmgDriver: FormatDriver = {
  name: 'dmg',
  aliases: ['udif', 'udzo', 'udro', 'udbz'],
  description: 'Apple disk image (UDIF .dmg): zlib, bzip2, ADC, LZFSE and raw chunks; writes UDZO/UDRO',
  probe(input: ProbeInput): number {
    try {
      const t = input.tail;
      if (t.length >= 512 && ascii(t, t.length - 512, 4) === 'koly') return 95;
      if (sniffUnsupported(input.head)) return 60;
    } catch {
      /* never throw */
    }
    return 0;
  },
  async open(file: BlockDevice, opts: OpenOptions = {}): Promise<Image> {
    return DmgImage.open(file, opts.name);
  },
  create: createDmg,
};

export const formats: FormatDriver[] = [dmgDriver, sparseimageDriver, sparsebundleDriver];
export const filesystems: FilesystemDriver[] = [];
