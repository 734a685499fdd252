import {
  copyDevice, type BlockDevice, type CreateOptions, type FormatDriver, type FilesystemDriver, type Image,
  type ImageSink, type Inspection, UsageError,
} from '@diskit/core';
import { readPartitionTable } from './partitions.js';

export * from './mbr.js';
export * from './gpt.js';
export * from './apm.js';
export * from './partitions.js';

/** A raw image: the file is the disk. */
class RawImage implements Image {
  readonly format = 'raw';
  readonly variant = 'raw';
  constructor(private readonly file: BlockDevice) {}
  get size() { return this.file.size; }
  get readOnly() { return this.file.readOnly; }
  read(into: Uint8Array, offset: number) { return this.file.read(into, offset); }
  write(from: Uint8Array, offset: number) { return this.file.write(from, offset); }
  extents(offset?: number, length?: number) { return this.file.extents(offset, length); }
  flush() { return this.file.flush(); }
  close() { return this.file.close(); }

  async inspect(): Promise<Inspection> {
    const t = await readPartitionTable(this.file);
    return { format: 'raw', variant: 'raw', virtualSize: this.size, partitionScheme: t.scheme, hybridIso: t.hybridIso, structures: t.structures };
  }
}

export const rawDriver: FormatDriver = {
  name: 'raw',
  aliases: ['img'],
  description: 'raw disk image (IMG): the file is the disk',
  // Anything is a raw image; the lowest score so every other format wins.
  probe: () => 1,
  async open(file: BlockDevice): Promise<Image> {
    return new RawImage(file);
  },
  async create(source: BlockDevice, sink: ImageSink, opts: CreateOptions = {}): Promise<void> {
    const unknown = Object.keys(opts.options ?? {});
    if (unknown.length) throw new UsageError(`raw: unknown option(s) ${unknown.join(', ')}`);
    await copyDevice(source, sink, { onProgress: opts.onProgress });
  },
};

export const formats: FormatDriver[] = [rawDriver];
export const filesystems: FilesystemDriver[] = [];
export { partitionTypeName } from './types.js';
