import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DiskitError, HttpDevice, SliceDevice, TruncatedImageError, UnsupportedFeatureError, UsageError, type BlockDevice, type FormatDriver, type Image, type Partition, type Problem, type Registry, type Volume } from '@diskit/core';
import { FileDevice, relativeOpener } from '@diskit/core/node';
import { readPartitionTable, type PartitionTable } from '@diskit/raw';
import { passwordSource } from './password.js';
import { openDirectoryImage } from './open-directory.js';

export interface Opened {
  path: string;
  /** The image file: a local file, a remote one read by HTTP ranges, or (a folder image) the image itself. */
  file: BlockDevice;
  driver: FormatDriver;
  image: Image;
  /** Bytes of the image file(s), and what they occupy on the host's disk. */
  fileSize: number;
  allocatedSize: number;
  close(): Promise<void>;
}

/** `diskit: warning: VHD footer at offset 1234: checksum …` on stderr, a line each. */
export function printWarnings(problems: Problem[] | undefined): void {
  for (const p of problems ?? []) {
    process.stderr.write(`diskit: warning: ${p.structure ?? 'image'}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.message}\n`);
  }
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
 * reports them as errors instead). `backing` names a differencing image's parent (`-o backing=`).
 */
export async function openImage(reg: Registry, path: string, opts: { format?: string; writable?: boolean; depth?: number; backing?: string; warn?: boolean; verify?: boolean; passwordFile?: string } = {}): Promise<Opened> {
  const url = isUrl(path);
  if (url && opts.writable) throw new UsageError(`${path}: remote images are read-only`);
  // A folder is a folder image (a .sparsebundle); its driver reads the files in it.
  if (!url && (await stat(path).catch(() => undefined))?.isDirectory()) return openDirectoryImage(reg, path, opts);
  const file = url ? await openRemote(path) : await FileDevice.open(path, { writable: opts.writable });
  try {
    const driver = opts.format ? reg.format(opts.format) : (await reg.detect(file, path)).driver;
    const depth = opts.depth ?? 0;
    // An overlay's base is itself any image (never writable through it); the depth bound stops cycles.
    const openRelativeImage = async (name: string): Promise<BlockDevice> => {
      if (depth >= 8) throw new UsageError(`${path}: more than 8 nested base images`);
      const base = await openImage(reg, beside(path, name), { depth: depth + 1 });
      return closingWith(base.image, base.close);
    };
    const openRelative = url ? (name: string) => openRemote(beside(path, name)) : relativeOpener(path);
    const image = await driver.open(file, { name: path, openRelative, openRelativeImage, writable: opts.writable, backing: opts.backing, verify: opts.verify, password: passwordSource(path, opts.passwordFile) });
    if (opts.warn !== false) printWarnings(image.warnings);
    return {
      path, file, driver, image, fileSize: file.size, allocatedSize: await allocatedBytes(path, file),
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

/** How remote images are fetched: headers (authentication, never printed) and whether to print costs. */
export const remote: { headers: Record<string, string>; stats: boolean; opened: HttpDevice[] } = { headers: {}, stats: false, opened: [] };

const isUrl = (p: string) => /^https?:\/\//i.test(p);

/** A name beside an image: a parent disk, a .cue's track, an overlay's base (URLs resolve as URLs). */
function beside(image: string, name: string): string {
  if (isUrl(image)) return new URL(name, image).href;
  return isAbsolute(name) ? name : join(dirname(image), name);
}

async function openRemote(url: string): Promise<HttpDevice> {
  const dev = await HttpDevice.open(url, { headers: remote.headers });
  remote.opened.push(dev);
  return dev;
}

/** Bytes the image file occupies on the host's disk (qemu-img's actual-size); a remote file's size. */
export async function allocatedBytes(path: string, file: BlockDevice): Promise<number> {
  if (isUrl(path)) return file.size;
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
export async function openVolume(reg: Registry, image: BlockDevice, opts: { partition?: number; mount?: Record<string, string>; fs?: string } = {}): Promise<Volume> {
  const slice = (p: { start: number; size: number }) => new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start));
  if (opts.partition !== undefined) {
    const table = await partitionTableOf(image);
    const p = table.partitions.find((x) => x.index === opts.partition && x.kind !== 'extended');
    if (!p) throw new UsageError(`no partition ${opts.partition} (have: ${table.partitions.map((x) => x.index).join(', ') || 'none'})`);
    if (p.start >= image.size) throw new TruncatedImageError(`partition ${p.index}`, p.start, p.size, image.size);
    return mountFirst(reg, [slice(p)], opts.mount, opts.fs);
  }
  // The whole disk first: an (isohybrid) ISO is a filesystem even when it also carries a table.
  const whole = await reg.detectFilesystem(image, opts.fs);
  if (whole) return warned(await whole.mount(image, opts.mount));
  const table = await partitionTableOf(image);
  return mountFirst(reg, table.partitions.filter((p) => p.kind !== 'extended' && p.start < image.size).map(slice), opts.mount, opts.fs);
}

/** A mounted volume, its warnings (damage mount read around) printed. */
function warned(vol: Volume): Volume {
  printWarnings(vol.warnings);
  return vol;
}

async function mountFirst(reg: Registry, devs: BlockDevice[], mount?: Record<string, string>, only?: string): Promise<Volume> {
  for (const dev of devs) {
    const fs = await reg.detectFilesystem(dev, only);
    if (fs) return warned(await fs.mount(dev, mount));
  }
  // An image problem (exit 1), not a usage error.
  throw new UnsupportedFeatureError(`no filesystem diskit can read was found (known: ${reg.filesystems.map((f) => f.name).join(', ') || 'none'})`);
}

/** A filesystem found on the whole disk (no `partition`) or on one partition. */
export interface FoundVolume {
  partition?: Partition;
  /** The filesystem driver that claimed it. */
  fs: string;
  volume?: Volume;
  /** Why it could not be mounted. */
  error?: DiskitError;
}

/**
 * Every filesystem on a disk: the whole disk's (an ISO, a partitionless FAT) and each partition's
 * (the table's entries that lie inside the image). For `info` and `check`.
 */
export async function findVolumes(reg: Registry, image: BlockDevice, partitions: Partition[]): Promise<FoundVolume[]> {
  const found: FoundVolume[] = [];
  const tryMount = async (dev: BlockDevice, partition?: Partition) => {
    // Every filesystem on it: a bridge disc is both UDF and ISO9660.
    for (const fs of await reg.detectFilesystems(dev)) {
      try {
        found.push({ partition, fs: fs.name, volume: await fs.mount(dev) });
      } catch (e) {
        if (!(e instanceof DiskitError)) throw e;
        found.push({ partition, fs: fs.name, error: e });
      }
    }
  };
  await tryMount(image);
  const whole = found.length > 0;
  for (const p of partitions) {
    // An isohybrid's partition at 0 is the same ISO again.
    if (p.kind === 'extended' || p.start >= image.size || p.size <= 0 || (whole && p.start === 0)) continue;
    await tryMount(new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start)), p);
  }
  return found;
}

/** The image as a device whose close() also closes the file under it. */
function closingWith(image: Image, close: () => Promise<void>): BlockDevice {
  return {
    get size() { return image.size; },
    get readOnly() { return image.readOnly; },
    read: (into, offset) => image.read(into, offset),
    write: (from, offset) => image.write(from, offset),
    extents: (offset, length) => image.extents(offset, length),
    flush: () => image.flush(),
    close,
  };
}
