import type { BlockDevice, FormatDriver, FilesystemDriver, Image, OpenOptions, ProbeInput } from '@diskit/core';
import { ascii } from '@diskit/core';
import { DmgImage } from './image.js';
import { sniffUnsupported } from './table.js';
import { createDmg } from './writer.js';

export * from './udif.js';
export * from './plist.js';
export * from './image.js';
export * from './table.js';
export { StreamVerifier, zeroCrc } from './verify.js';
export { blkxCrc } from './check.js';
export * from './writer.js';
export { adcDecode, AdcError } from './adc.js';
export { lzfseDecode, lzvnDecode, LzfseError } from './lzfse.js';
export { bunzip2, makeBunzip2, Bzip2Error } from './bzip2.js';
export { bzip2Encode } from './bzip2-encode.js';
export { crc32Combine } from './crc-combine.js';
export { codecs, codecsReady, setCodecs, pureCodecs, unxz, CodecError, type Codecs } from './codecs.js';

export const dmgDriver: FormatDriver = {
  name: 'dmg',
  aliases: ['udif', 'udzo', 'udro', 'udbz', 'ulmo'],
  description: 'Apple disk image (UDIF .dmg): zlib, bzip2, ADC, LZFSE, LZMA and raw chunks; writes UDZO/UDRO/UDBZ',
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
    return DmgImage.open(file, { name: opts.name, verify: opts.verify });
  },
  create: createDmg,
};

export const formats: FormatDriver[] = [dmgDriver];
export const filesystems: FilesystemDriver[] = [];
