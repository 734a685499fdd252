import type { FilesystemDriver } from '@diskit/core';
import { fatFilesystem, FatVolume, probeFat } from './volume.js';

export const filesystems: FilesystemDriver[] = [fatFilesystem];

export { fatFilesystem, FatVolume, probeFat };
export { fatLayout, decodeBpb, dos1Layout, type FatLayout, type FatType, type RawBpb } from './bpb.js';
export { parseFsInfo, type FsInfo } from './fsinfo.js';
export { FatTable, type Chain, type ClusterRun } from './fat-table.js';
export { parseShortEntry, shortName, dosTime } from './dirent.js';
export { lfnChecksum } from './lfn.js';
export { parseDirectory } from './directory.js';
