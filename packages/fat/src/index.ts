import type { FilesystemDriver } from '@diskit/core';
import { fatFilesystem, FatVolume, probeFat } from './volume.js';
import { exfatFilesystem, ExfatVolume } from './exfat/volume.js';

export const filesystems: FilesystemDriver[] = [fatFilesystem, exfatFilesystem];

export { fatFilesystem, exfatFilesystem, FatVolume, ExfatVolume, probeFat };
export { checkFat, checkExfat } from './check.js';
export { fatLayout, decodeBpb, dos1Layout, type FatLayout, type FatType, type RawBpb } from './bpb.js';
export { parseFsInfo, type FsInfo } from './fsinfo.js';
export { FatTable, type Chain, type ClusterRun } from './fat-table.js';
export { parseShortEntry, shortName, dosTime } from './dirent.js';
export { lfnChecksum } from './lfn.js';
export { parseDirectory } from './directory.js';
export { readBootRegion, bootChecksum, parseBootSector, type ExfatBoot } from './exfat/boot.js';
export { parseEntrySets, setChecksum, exfatTime, type ExfatNode } from './exfat/entry-set.js';
export { parseUpcase, nameHash, tableChecksum } from './exfat/upcase.js';
