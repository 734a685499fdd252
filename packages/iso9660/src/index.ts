import type { FormatDriver, FilesystemDriver } from '@diskit/core';

/** The format drivers this package provides (filled in by the package's issue). */
export const formats: FormatDriver[] = [];
export const filesystems: FilesystemDriver[] = [];
