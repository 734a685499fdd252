import type { FilesystemDriver } from '@diskit/core';
import { extFilesystem } from './volume.js';

export const filesystems: FilesystemDriver[] = [extFilesystem];

export { extFilesystem };
export { ExtVolume } from './volume.js';
export { parseSuperblock, featureNames, type Superblock } from './superblock.js';
export { parseGroupDescriptor, type GroupDescriptor } from './group-descriptor.js';
export { parseInode, type Inode } from './inode.js';
export { parseExtentHeader } from './extent-tree.js';
export { parseDirents, type Dirent } from './dirent.js';
export { checkVolume } from './check.js';
