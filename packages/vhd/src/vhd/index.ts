/**
 * VHD (Microsoft Virtual Hard Disk Image Format Specification v1.0): fixed, dynamic and
 * differencing disks. All fields big-endian.
 */
import type { FormatDriver } from '@diskit/core';
import { probeVhd } from './footer.js';
import { VhdImage } from './image.js';
import { createVhd } from './create.js';

export {
  VHD_FOOTER_SIZE, VHD_MAX_GEOMETRY, VHD_MAX_SECTORS, encodeVhdFooter, footerBytesOf, parseVhdFooter, probeVhd, vhdChecksum,
  vhdGeometry, vhdVirtualSize, type VhdDiskType, type VhdFooter,
} from './footer.js';
export { VHD_HEADER_SIZE, encodeVhdDynamicHeader, parseVhdDynamicHeader, type VhdDynamicHeader } from './dynamic-header.js';
export type { VhdParentLocator } from './parent-locator.js';
export { VhdImage } from './image.js';
export { createDifferencing, createVhd, vhdCreateParams, type DifferencingOptions, type VhdCreateParams } from './create.js';

export const vhdDriver: FormatDriver = {
  name: 'vhd',
  aliases: ['vpc'],
  description: 'Microsoft Virtual Hard Disk (VHD): fixed, dynamic and differencing',
  probe: probeVhd,
  open: (file, opts) => VhdImage.open(file, opts),
  create: createVhd,
};
