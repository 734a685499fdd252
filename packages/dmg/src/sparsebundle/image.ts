/**
 * An opened `.sparsebundle` folder: Info.plist (or its copy Info.bckup) gives the band size and
 * the disk size; the disk is the BundleDevice over `bands/`.
 */
import {
  CorruptImageError, TruncatedImageError, UnsupportedFeatureError, readBytes, ascii,
  type BlockDevice, type CheckReport, type DirectorySource, type Extent, type Image, type Inspection, type Problem,
} from '@diskit/core';
import { BundleDevice } from './device.js';
import { parseBundleInfo, type BundleInfo } from './info-plist.js';

/** Info.plist is a few hundred bytes; anything past this is not one. */
const MAX_PLIST = 1 << 20;

async function readText(dir: DirectorySource, path: string): Promise<string | undefined> {
  const dev = await dir.open(path);
  if (!dev) return undefined;
  try {
    if (dev.size > MAX_PLIST) throw new CorruptImageError(`sparse bundle ${path}`, 0, `at most ${MAX_PLIST} bytes`, `${dev.size} bytes`);
    return new TextDecoder('utf-8', { fatal: false }).decode(await readBytes(dev, 0, dev.size));
  } finally {
    await dev.close();
  }
}

export interface BundleOpenOptions {
  /**
   * The decryption layer for an encrypted bundle (its bands joined start with `encrcdsa`): given
   * the BundleDevice, the decrypted disk. Without it such a bundle is refused.
   */
  unwrap?: (bands: BlockDevice) => Promise<BlockDevice>;
}

export class SparseBundleImage implements Image {
  readonly format = 'sparsebundle';
  readonly readOnly = true;

  private constructor(
    readonly dir: DirectorySource,
    readonly bundleInfo: BundleInfo,
    /** Where the info came from: Info.plist, or Info.bckup when Info.plist is missing. */
    readonly infoFile: string,
    readonly bands: BundleDevice,
    /** Names in bands/ that are not band files; bands past the disk's end. */
    readonly foreign: string[],
    readonly beyond: number[],
    readonly backupDiffers: boolean,
    /** The disk: the bands themselves, or the decrypted device on them. */
    readonly disk: BlockDevice,
  ) {}

  get variant(): string {
    return this.disk === this.bands ? 'UDSB' : 'UDSB (encrypted)';
  }

  static async open(dir: DirectorySource, opts: BundleOpenOptions = {}): Promise<SparseBundleImage> {
    const plist = await readText(dir, 'Info.plist');
    const backup = await readText(dir, 'Info.bckup');
    const text = plist ?? backup;
    if (text === undefined) throw new CorruptImageError(`sparse bundle ${dir.name}`, 0, 'an Info.plist (or Info.bckup)', 'neither');
    const infoFile = plist !== undefined ? 'Info.plist' : 'Info.bckup';
    const info = parseBundleInfo(text, infoFile);
    const { bands, foreign } = BundleDevice.bandNames(await dir.list('bands'));
    const bandCount = Math.ceil(info.size / info.bandSize);
    const beyond = [...bands.keys()].filter((b) => b >= bandCount).sort((a, b) => a - b);
    for (const b of beyond) bands.delete(b);
    const dev = new BundleDevice(dir, info.size, info.bandSize, bands);
    let disk: BlockDevice = dev;
    if (dev.size >= 8 && ascii(await readBytes(dev, 0, 8), 0, 8) === 'encrcdsa') {
      if (!opts.unwrap) {
        await dev.close();
        throw new UnsupportedFeatureError('encrypted sparse bundle (encrcdsa in its bands): no decryption layer given');
      }
      disk = await opts.unwrap(dev);
    }
    return new SparseBundleImage(dir, info, infoFile, dev, foreign, beyond, plist !== undefined && backup !== undefined && plist !== backup, disk);
  }

  get size(): number {
    return this.disk.size;
  }

  read(into: Uint8Array, offset: number): Promise<void> {
    return this.disk.read(into, offset);
  }
  write(): Promise<void> {
    return this.bands.write();
  }
  extents(offset?: number, length?: number): AsyncIterable<Extent> {
    return this.disk.extents(offset, length);
  }

  async inspect(): Promise<Inspection> {
    return {
      format: this.format,
      variant: this.variant,
      virtualSize: this.size,
      bandSize: this.bands.bandSize,
      structures: [
        { name: this.infoFile, offset: 0, size: 0, fields: { ...this.bundleInfo.raw } },
        { name: 'bands/', offset: 0, size: 0, fields: { files: this.bands.present.length, bands: Math.ceil(this.bands.size / this.bands.bandSize) } },
      ],
    };
  }

  async info(): Promise<Record<string, unknown>> {
    return {
      bandSize: this.bands.bandSize,
      bands: Math.ceil(this.bands.size / this.bands.bandSize),
      bandFiles: this.bands.present.length,
      backingStoreVersion: this.bundleInfo.version,
    };
  }

  async check(): Promise<CheckReport> {
    const problems: Problem[] = [];
    if (this.infoFile !== 'Info.plist') problems.push({ severity: 'warning', message: 'Info.plist is missing; read Info.bckup', structure: 'Info.plist' });
    if (this.backupDiffers) problems.push({ severity: 'warning', message: 'Info.bckup differs from Info.plist', structure: 'Info.bckup' });
    for (const name of this.foreign) problems.push({ severity: 'warning', message: `bands/${name} is not a band file name (lowercase hex)`, structure: 'bands/' });
    for (const b of this.beyond) problems.push({ severity: 'warning', message: `bands/${b.toString(16)} lies past the disk's end (ignored)`, structure: 'bands/' });
    // Every band file opens and fits in its band.
    for (const band of this.bands.present) {
      try {
        await this.bands.read(new Uint8Array(1), band * this.bands.bandSize);
      } catch (e) {
        if (!(e instanceof CorruptImageError || e instanceof TruncatedImageError)) throw e;
        problems.push({ severity: 'error', message: e.message, structure: e.structure, offset: e.offset });
      }
    }
    return { problems };
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    if (this.disk !== this.bands) await this.disk.close();
    await this.bands.close();
  }
}
