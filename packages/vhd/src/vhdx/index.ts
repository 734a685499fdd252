/**
 * VHDX ([MS-VHDX] v1): file identifier, two headers, two region tables, metadata, BAT with
 * payload and sector-bitmap entries, and the metadata log (replayed in memory on read-only opens).
 * All fields little-endian; checksums are CRC32C.
 */
import type { FormatDriver } from '@diskit/core';
import { probeVhdx } from './header.js';
import { VhdxImage } from './image.js';
import { createVhdx } from './create.js';

export { GUIDS, VHDX_HEADER_OFFSETS, VHDX_REGION_OFFSETS } from './layout.js';
export { encodeVhdxHeader, parseVhdxHeader, probeVhdx, type VhdxHeader } from './header.js';
export { encodeRegionTable, parseRegionTable, type VhdxRegion } from './region-table.js';
export type { VhdxMetadataEntry } from './metadata.js';
export { PAYLOAD_STATES, batEntries } from './bat.js';
export { LogOverlay, readVhdxLog, writeVhdxLog, type LogEntry, type VhdxLogEntryHeader } from './log.js';
export { VHDX_PARENT_TYPE, encodeParentLocator, parseParentLocator } from './parent-locator.js';
export { VhdxImage } from './image.js';
export { createDifferencingVhdx, createVhdx, vhdxCreateParams, type VhdxCreateParams } from './create.js';

export const vhdxDriver: FormatDriver = {
  name: 'vhdx',
  description: 'Microsoft Hyper-V Virtual Hard Disk v2 (VHDX): fixed and dynamic',
  probe: probeVhdx,
  open: (file, opts) => VhdxImage.open(file, opts),
  create: createVhdx,
};
