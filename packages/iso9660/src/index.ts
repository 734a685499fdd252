import type { FormatDriver, FilesystemDriver } from '@diskit/core';
import { isoFormat, binFormat } from './formats.js';
import { cueFormat } from './cue.js';
import { iso9660Filesystem } from './reader/index.js';

export const formats: FormatDriver[] = [isoFormat, binFormat, cueFormat];
export const filesystems: FilesystemDriver[] = [iso9660Filesystem];

export { isoFormat, binFormat, cueFormat, iso9660Filesystem };
export { parseCue, type CueTrack } from './cue.js';
export { IsoVolume, readDescriptors, hasCd001, volumeFacts, type NameMode, type DescriptorInfo, type MountOptions } from './reader/index.js';
export { readBootCatalog, openBootImage, encodeBootCatalog, type BootCatalog, type BootEntry } from './eltorito.js';
export { checkPathTables } from './check.js';
export { cueSheet, encodeMode1, edc, msf, RAW_SECTOR } from './cdsector.js';
export { setInflate } from './zisofs.js';
export * from './structs.js';
