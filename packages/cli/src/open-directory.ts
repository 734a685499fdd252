import { UsageError, isDirectoryDriver, type DirectoryFormatDriver, type Registry } from '@diskit/core';
import { directorySize, directorySource } from '@diskit/core/node';
import type { Opened } from './open.js';

/** Open a folder image (a .sparsebundle): the folder-format driver that claims it, or the one asked for. */
export async function openDirectoryImage(reg: Registry, path: string, opts: { format?: string } = {}): Promise<Opened> {
  const dir = directorySource(path);
  const folderFormats = reg.formats.filter(isDirectoryDriver);
  let driver: DirectoryFormatDriver | undefined;
  if (opts.format) {
    const asked = reg.format(opts.format);
    if (!isDirectoryDriver(asked)) throw new UsageError(`${path} is a directory, and ${asked.name} images are files`);
    driver = asked;
  } else {
    let best = 0;
    for (const d of folderFormats) {
      const score = await d.probeDirectory(dir);
      if (score > best) [best, driver] = [score, d];
    }
  }
  if (!driver) throw new UsageError(`${path} is a directory, not a folder image diskit knows (${folderFormats.map((d) => d.name).join(', ') || 'none'})`);
  const image = await driver.openDirectory(dir);
  const { bytes, allocated } = await directorySize(path);
  return {
    path, file: image, driver, image, fileSize: bytes, allocatedSize: allocated,
    async close() {
      await image.close().catch(() => {});
    },
  };
}
