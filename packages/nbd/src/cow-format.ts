/** The overlay file as a format, so `diskit info|map|convert OVERLAY` see the merged disk. */
import { UnsupportedFeatureError, ReadOnlyDevice, type BlockDevice, type FormatDriver, type Image, type Inspection } from '@diskit/core';
import { COW_MAGIC, openCowOverlay, type CowDevice } from './cow.js';

class CowImage extends ReadOnlyDevice implements Image {
  readonly format = 'overlay';
  readonly variant = 'copy-on-write';
  constructor(private readonly cow: CowDevice) {
    super();
  }
  get size(): number {
    return this.cow.size;
  }
  read(into: Uint8Array, offset: number): Promise<void> {
    return this.cow.read(into, offset);
  }
  override extents(offset?: number, length?: number) {
    return this.cow.extents(offset, length);
  }
  override close(): Promise<void> {
    return this.cow.base.close();
  }
  async inspect(): Promise<Inspection> {
    const h = this.cow.header;
    return {
      format: this.format,
      variant: this.variant,
      virtualSize: h.virtualSize,
      structures: [{ name: 'overlay header', offset: 0, size: 4096, fields: { blockSize: h.blockSize, virtualSize: h.virtualSize, dataOffset: h.dataOffset, base: h.base } }],
    };
  }
  async info(): Promise<Record<string, unknown>> {
    return { base: this.cow.header.base, blockSize: this.cow.header.blockSize };
  }
}

export const overlayFormat: FormatDriver = {
  name: 'overlay',
  description: "diskit's copy-on-write overlay (serve --writable --overlay)",
  probe: (input) => (new TextDecoder().decode(input.head.subarray(0, 8)) === COW_MAGIC ? 100 : 0),
  async open(file: BlockDevice, opts) {
    const openBase = opts?.openRelativeImage;
    if (!openBase) throw new UnsupportedFeatureError('an overlay needs its base image, which cannot be opened here');
    return new CowImage(await openCowOverlay(file, openBase));
  },
};
