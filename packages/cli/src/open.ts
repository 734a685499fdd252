import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SliceDevice, UsageError, type BlockDevice, type FormatDriver, type Image, type Problem, type Registry, type Volume } from '@diskit/core';
import { FileDevice, relativeOpener } from '@diskit/core/node';
import { readPartitionTable, type PartitionTable } from '@diskit/raw';

export interface Opened {
  path: string;
  file: FileDevice;
  driver: FormatDriver;
  image: Image;
  close(): Promise<void>;
}

/** "VHD footer at offset 1234: checksum …" */
export function describeProblem(p: Problem): string {
  return `${p.structure ?? 'image'}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.message}`;
}

/** `diskit: warning: VHD footer at offset 1234: checksum …` on stderr, a line each. */
export function printWarnings(problems: Problem[] | undefined): void {
  for (const p of problems ?? []) process.stderr.write(`diskit: warning: ${describeProblem(p)}\n`);
}

/** The reading commands' `-o`: only `backing=PATH` (qemu-img's name), the parent of a differencing image that was moved. */
export const openOptionSpec = { options: { type: 'string', short: 'o', multiple: true } } as const;

export function backingOption(list: string[] | undefined): string | undefined {
  let backing: string | undefined;
  for (const kv of (list ?? []).flatMap((s) => s.split(',')).filter(Boolean)) {
    const m = /^backing=(.+)$/.exec(kv);
    if (!m) throw new UsageError(`-o ${kv}: reading an image takes only -o backing=PATH`);
    backing = resolve(m[1]!);
  }
  return backing;
}

/**
 * Open an image file read-only (unless `writable`), detecting its format unless `format` is given.
 * What the driver read around (bad checksums) is printed as warnings unless `warn` is false (check
 * reports them as errors instead).
 */
export async function openImage(reg: Registry, path: string, opts: { format?: string; writable?: boolean; backing?: string; warn?: boolean } = {}): Promise<Opened> {
  const file = await FileDevice.open(path, { writable: opts.writable });
  try {
    const driver = opts.format ? reg.format(opts.format) : (await reg.detect(file, path)).driver;
    const image = await driver.open(file, { name: path, openRelative: relativeOpener(path), writable: opts.writable, backing: opts.backing });
    if (opts.warn !== false) printWarnings(image.warnings);
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

/** The partition table inside a disk; its checksum failures are printed as warnings unless `warn` is false. */
export async function partitionTableOf(dev: BlockDevice, warn = true): Promise<PartitionTable> {
  const table = await readPartitionTable(dev);
  if (warn) printWarnings(table.warnings);
  return table;
}

/**
 * Find a filesystem on an image's disk: the partition asked for, else the whole disk, else the
 * first partition that holds one.
 */
export async function openVolume(reg: Registry, image: BlockDevice, opts: { partition?: number; mount?: Record<string, string> } = {}): Promise<Volume> {
  const slice = (p: { start: number; size: number }) => new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start));
  if (opts.partition !== undefined) {
    const table = await partitionTableOf(image);
    const p = table.partitions.find((x) => x.index === opts.partition && x.kind !== 'extended');
    if (!p) throw new UsageError(`no partition ${opts.partition} (have: ${table.partitions.map((x) => x.index).join(', ') || 'none'})`);
    return mountFirst(reg, [slice(p)], opts.mount);
  }
  // The whole disk first: an (isohybrid) ISO is a filesystem even when it also carries a table.
  const whole = await reg.detectFilesystem(image);
  if (whole) return whole.mount(image, opts.mount);
  const table = await partitionTableOf(image);
  return mountFirst(reg, table.partitions.filter((p) => p.kind !== 'extended' && p.start < image.size).map(slice), opts.mount);
}

async function mountFirst(reg: Registry, devs: BlockDevice[], mount?: Record<string, string>): Promise<Volume> {
  for (const dev of devs) {
    const fs = await reg.detectFilesystem(dev);
    if (fs) return fs.mount(dev, mount);
  }
  throw new UsageError(`no filesystem diskit can read was found (known: ${reg.filesystems.map((f) => f.name).join(', ') || 'none'})`);
}
