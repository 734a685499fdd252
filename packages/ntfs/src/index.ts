import type { BlockDevice, FilesystemDriver } from '@diskit/core';
import { UsageError } from '@diskit/core';
import { looksLikeNtfs } from './boot-sector.js';
import { NtfsVolume, type NameMode } from './volume.js';

export const ntfsFilesystem: FilesystemDriver = {
  name: 'ntfs',
  async probe(dev: BlockDevice): Promise<number> {
    if (dev.size < 512) return 0;
    const b = new Uint8Array(512);
    try {
      await dev.read(b, 0);
    } catch {
      return 0;
    }
    return looksLikeNtfs(b) ? 90 : 0;
  },
  async mount(dev: BlockDevice, opts?: Record<string, string>) {
    for (const k of Object.keys(opts ?? {})) if (k !== 'names') throw new UsageError(`unknown ntfs mount option '${k}'`);
    const names = opts?.names;
    if (names !== undefined && names !== 'win32' && names !== 'dos') throw new UsageError(`names must be win32 or dos (got '${names}')`);
    return NtfsVolume.mount(dev, { names: names as NameMode | undefined });
  },
};

export const filesystems: FilesystemDriver[] = [ntfsFilesystem];

export { NtfsVolume, type NameMode, type MountOptions } from './volume.js';
export { parseBootSector, readBootSector, type BootSector } from './boot-sector.js';
export { lznt1Decompress } from './lznt1.js';
export { decodeRunlist, type Run } from './runlist.js';
