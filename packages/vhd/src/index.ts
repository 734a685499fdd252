import type { FormatDriver, FilesystemDriver } from '@diskit/core';
import { vhdDriver } from './vhd/index.js';
import { vhdxDriver } from './vhdx/index.js';

export * from './vhd/index.js';
export * from './vhdx/index.js';
export { parseSize } from './util.js';

/** The format drivers this package provides: `vhd` (alias `vpc`) and `vhdx`. */
export const formats: FormatDriver[] = [vhdDriver, vhdxDriver];
export const filesystems: FilesystemDriver[] = [];
