import type { FilesystemDriver, FormatDriver } from '@diskit/core';
import { UsageError } from '@diskit/core';
import { NX_MAGIC } from './container.js';
import { mountApfs } from './container-reader.js';

export const apfsFilesystem: FilesystemDriver = {
  name: 'apfs',
  async probe(dev) {
    try {
      if (dev.size < 4096) return 0;
      const b = new Uint8Array(40);
      await dev.read(b, 0);
      return new DataView(b.buffer).getUint32(32, true) === NX_MAGIC ? 90 : 0;
    } catch {
      return 0;
    }
  },
  async mount(dev, opts) {
    for (const k of Object.keys(opts ?? {})) if (k !== 'volume' && k !== 'snapshot') throw new UsageError(`unknown apfs mount option '${k}'`);
    return mountApfs(dev, { volume: opts?.volume, snapshot: opts?.snapshot });
  },
};

/** APFS is a filesystem inside a container or partition, not an image format of its own. */
export const formats: FormatDriver[] = [];
export const filesystems: FilesystemDriver[] = [apfsFilesystem];

export { mountApfs, openContainer, chooseVolume, type MountOptions, type OpenContainer } from './container-reader.js';
export { ApfsVolume } from './volume.js';
export { readContainer, parseContainerSuperblock, NX_MAGIC, type ContainerSuperblock } from './container.js';
export { parseVolumeSuperblock, type VolumeSuperblock } from './volume-superblock.js';
export { fletcher64, checksumOk, sealObject, parseObjHeader } from './object.js';
export { parseNode, nodeKey, nodeVal, BTree, NodeStore } from './btree.js';
export { ObjectMap } from './omap.js';
export { openDecmpfs, parseDecmpfs } from './decmpfs.js';
export {
  parseInode, parseDirRecord, parseFileExtent, parseXattr, keyHeader, recordsOf, nameHash,
  J_INODE, J_XATTR, J_DIR_REC, J_FILE_EXTENT, J_SNAP_METADATA, J_SNAP_NAME, ROOT_DIR_INO,
  type Inode, type DirRecord, type FileExtent, type Xattr,
} from './records.js';
