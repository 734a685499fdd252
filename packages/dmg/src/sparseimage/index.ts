import { ascii, type BlockDevice, type FormatDriver, type Image, type ProbeInput } from '@diskit/core';
import { SparseImage } from './image.js';
import { createSparseImage } from './writer.js';

export * from './header.js';
export * from './index-node.js';
export * from './band-map.js';
export * from './image.js';
export * from './writer.js';

export const sparseimageDriver: FormatDriver = {
  name: 'sparseimage',
  aliases: ['udsp', 'sparse'],
  description: 'Apple sparse disk image (.sparseimage, UDSP): bands listed in a chained index; writes it too',
  probe(input: ProbeInput): number {
    try {
      if (input.head.length >= 12 && ascii(input.head, 0, 4) === 'sprs' && input.head[4] === 0 && input.head[5] === 0) return 100;
    } catch {
      /* never throw */
    }
    return 0;
  },
  async open(file: BlockDevice): Promise<Image> {
    return SparseImage.open(file);
  },
  create: createSparseImage,
};
