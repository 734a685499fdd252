import type { FilesystemDriver } from '@diskit/core';
import { hasNsr } from './descriptors.js';
import { UdfVolume } from './volume.js';

export { UdfVolume } from './volume.js';
export { readVolumeStructure, hasNsr } from './descriptors.js';
export { parseFileEntry } from './file-entry.js';
export { parseFids } from './fid.js';
export { readTag, crc16 } from './tag.js';

/**
 * UDF: above ISO9660 (90) when both are on a disc, as 7-Zip chooses — on a bridge disc both trees
 * are the same, and on Windows install media the ISO9660 tree is only a README. `--fs iso9660` picks
 * the other one.
 */
export const udfFilesystem: FilesystemDriver = {
  name: 'udf',
  async probe(dev) {
    try {
      return (await hasNsr(dev)) ? 95 : 0;
    } catch {
      return 0;
    }
  },
  mount: (dev) => UdfVolume.mount(dev),
};

export const filesystems: FilesystemDriver[] = [udfFilesystem];
export const formats = [];
