/**
 * Images that are folders (a `.sparsebundle`: an Info.plist and a `bands/` folder of files).
 * A driver sees the folder only through these two shapes, so the same code runs on a Node
 * directory (`@diskit/core/node`: `directorySource`, `DirectoryOutput`) and on the `File`s a
 * browser hands over for a dropped folder (`fileSetSource`).
 */
import type { BlockDevice, ImageSink } from './device.js';
import { ReadOnlyDevice, checkRange } from './device.js';
import type { CreateOptions, FormatDriver, Image } from './driver.js';

/** A folder to read: paths are '/'-separated and relative to it (`bands/1f`). */
export interface DirectorySource {
  /** For messages: the folder's path or name. */
  readonly name: string;
  /** The names in the folder `path` ('' is the folder itself); [] when there is no such folder. */
  list(path: string): Promise<string[]>;
  /** The file at `path`, read-only; undefined when there is none. */
  open(path: string): Promise<BlockDevice | undefined>;
}

/** A new file in a folder being written. */
export interface DirectoryFile extends ImageSink {
  close(): Promise<void>;
}

/** A folder to write into: files are created (folders made as needed) by path. */
export interface DirectorySink {
  create(path: string): Promise<DirectoryFile>;
}

/** What a driver of a folder-shaped format adds to its FormatDriver. */
export interface DirectoryFormatDriver extends FormatDriver {
  /** 0 = not mine, 100 = certain. Must not throw. */
  probeDirectory(dir: DirectorySource): Promise<number>;
  /**
   * Open the folder. `unwrap` is the decryption layer for a folder whose bytes are encrypted
   * (an encrcdsa sparse bundle): it gets the folder's device and returns the decrypted disk.
   */
  openDirectory(dir: DirectorySource, opts?: { unwrap?: (dev: BlockDevice) => Promise<BlockDevice> }): Promise<Image>;
  /** Write `source` as a new folder image into `out`. */
  createDirectory(source: BlockDevice, out: DirectorySink, opts?: CreateOptions): Promise<void>;
}

export function isDirectoryDriver(d: FormatDriver): d is DirectoryFormatDriver {
  return typeof (d as Partial<DirectoryFormatDriver>).openDirectory === 'function';
}

/** The part of a browser `Blob`/`File` a device needs (structural: no DOM types). */
export interface BlobLike {
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** A Blob (a browser `File`, Node's `Blob`) as a read-only device. */
export class BlobDevice extends ReadOnlyDevice {
  constructor(readonly blob: BlobLike) {
    super();
  }
  get size(): number {
    return this.blob.size;
  }
  async read(into: Uint8Array, offset: number): Promise<void> {
    checkRange(this, offset, into.length);
    into.set(new Uint8Array(await this.blob.slice(offset, offset + into.length).arrayBuffer()));
  }
}

/**
 * A folder given as a set of files keyed by their path inside it: what `<input webkitdirectory>`
 * or a drop yields (`file.webkitRelativePath` is `Disk.sparsebundle/bands/0`; pass the map with
 * the leading folder name removed).
 */
export function fileSetSource(name: string, files: ReadonlyMap<string, BlobLike>): DirectorySource {
  return {
    name,
    async list(path) {
      const prefix = path ? `${path.replace(/\/+$/, '')}/` : '';
      const names = new Set<string>();
      for (const p of files.keys()) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length);
        if (rest) names.add(rest.split('/')[0]!);
      }
      return [...names].sort();
    },
    async open(path) {
      const blob = files.get(path);
      return blob ? new BlobDevice(blob) : undefined;
    },
  };
}
