import { stat } from 'node:fs/promises';
import { SliceDevice, UsageError, type BlockDevice, type FormatDriver, type Image, type Registry, type Volume } from '@diskit/core';
import { FileDevice, relativeOpener } from '@diskit/core/node';
import { readPartitionTable, type PartitionTable } from '@diskit/raw';
import { passwordSource } from './password.js';

export interface Opened {
  path: string;
  file: FileDevice;
  driver: FormatDriver;
  image: Image;
  close(): Promise<void>;
}

/** Open an image file read-only (unless `writable`), detecting its format unless `format` is given. */
export async function openImage(reg: Registry, path: string, opts: { format?: string; writable?: boolean; verify?: boolean; passwordFile?: string } = {}): Promise<Opened> {
  const file = await FileDevice.open(path, { writable: opts.writable });
  try {
    const driver = opts.format ? reg.format(opts.format) : (await reg.detect(file, path)).driver;
    const image = await driver.open(file, { name: path, openRelative: relativeOpener(path), writable: opts.writable, verify: opts.verify, password: passwordSource(path, opts.passwordFile) });
    return {
      path, file, driver, image,
      async close() {
        await image.close().catch(() => {});
        await file.close().catch(() => {});
      },
    };
  } catch (e) {
    await file.close().catch(() => {});
    throw e;
  }
}

/** Bytes the image file occupies on the host's disk (qemu-img's actual-size). */
export async function allocatedBytes(path: string): Promise<number> {
  const st = await stat(path);
  return Math.min(st.blocks * 512, st.size);
}

export async function partitionTableOf(dev: BlockDevice): Promise<PartitionTable> {
  return readPartitionTable(dev);
}

/**
 * Find a filesystem on an image's disk: the partition asked for, else the whole disk, else the
 * first partition that holds one.
 */
export async function openVolume(reg: Registry, image: BlockDevice, opts: { partition?: number; mount?: Record<string, string> } = {}): Promise<Volume> {
  const slice = (p: { start: number; size: number }) => new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start));
  if (opts.partition !== undefined) {
    const table = await readPartitionTable(image);
    const p = table.partitions.find((x) => x.index === opts.partition && x.kind !== 'extended');
    if (!p) throw new UsageError(`no partition ${opts.partition} (have: ${table.partitions.map((x) => x.index).join(', ') || 'none'})`);
    return mountFirst(reg, [slice(p)], opts.mount);
  }
  // The whole disk first: an (isohybrid) ISO is a filesystem even when it also carries a table.
  const whole = await reg.detectFilesystem(image);
  if (whole) return whole.mount(image, opts.mount);
  const table = await readPartitionTable(image);
  return mountFirst(reg, table.partitions.filter((p) => p.kind !== 'extended' && p.start < image.size).map(slice), opts.mount);
}

async function mountFirst(reg: Registry, devs: BlockDevice[], mount?: Record<string, string>): Promise<Volume> {
  for (const dev of devs) {
    const fs = await reg.detectFilesystem(dev);
    if (fs) return fs.mount(dev, mount);
  }
  throw new UsageError(`no filesystem diskit can read was found (known: ${reg.filesystems.map((f) => f.name).join(', ') || 'none'})`);
}
