import { UsageError, type BlockDevice, type DirectoryFormatDriver, type DirectorySource, type Image } from '@diskit/core';
import { SparseBundleImage } from './image.js';
import { createSparseBundle } from './writer.js';
import { BUNDLE_TYPE } from './info-plist.js';

export * from './info-plist.js';
export * from './device.js';
export * from './image.js';
export * from './writer.js';

/** A sparse bundle is a folder: it is opened with openDirectory (the CLI does so for a directory path). */
export const sparsebundleDriver: DirectoryFormatDriver = {
  name: 'sparsebundle',
  aliases: ['udsb'],
  description: 'Apple sparse bundle (.sparsebundle folder: Info.plist and bands/); writes it too',
  probe(): number {
    return 0;
  },
  async open(_file: BlockDevice): Promise<Image> {
    throw new UsageError('a sparse bundle is a folder: give the .sparsebundle directory');
  },
  async probeDirectory(dir: DirectorySource): Promise<number> {
    try {
      const names = await dir.list('');
      if (!names.includes('Info.plist') && !names.includes('Info.bckup')) return 0;
      const dev = await dir.open(names.includes('Info.plist') ? 'Info.plist' : 'Info.bckup');
      if (!dev) return 0;
      try {
        const head = new Uint8Array(Math.min(dev.size, 4096));
        await dev.read(head, 0);
        return new TextDecoder().decode(head).includes(BUNDLE_TYPE) ? 100 : names.includes('bands') ? 50 : 0;
      } finally {
        await dev.close();
      }
    } catch {
      return 0;
    }
  },
  openDirectory: (dir, opts) => SparseBundleImage.open(dir, opts),
  createDirectory: createSparseBundle,
};
