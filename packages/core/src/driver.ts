import type { BlockDevice, ImageSink } from './device.js';

/** The bytes a driver sees when asked "is this yours?": read once for every driver. */
export interface ProbeInput {
  /** The first 64 KiB (less for smaller files). */
  head: Uint8Array;
  /** The last 512 bytes (less for smaller files). */
  tail: Uint8Array;
  /** File size in bytes. */
  size: number;
  /** File name, when known: a hint only, never decisive. */
  name?: string;
}

export interface OpenOptions {
  /** Path or name of the image, for messages and for finding neighbours. */
  name?: string;
  /** Open a file named relative to the image (parent disks, .cue sheets). Absent in browsers. */
  openRelative?: (name: string) => Promise<BlockDevice>;
  /** Open an image named relative to this one, detecting its format (an overlay's base). */
  openRelativeImage?: (name: string) => Promise<BlockDevice>;
  /** Allow writes through the image (default: read-only). */
  writable?: boolean;
  /**
   * The parent of a differencing image, opened through `openRelative` instead of the names in the
   * image's parent locators (qemu-img's `-o backing=PATH`, for a parent that was moved). Its
   * identity is still checked against the child's.
   */
  backing?: string;
  /** Check the data's checksums as it is read, failing on a mismatch (default true; `--no-verify` turns it off). */
  verify?: boolean;
  /** The passphrase of an encrypted image, asked for only when one is met. Never logged. */
  password?: () => Promise<string>;
}

/** One on-disk structure in an inspect() dump. */
export interface Structure {
  name: string;
  /** Byte offset in the container file. */
  offset: number;
  size: number;
  fields: Record<string, unknown>;
  children?: Structure[];
}

/** A JSON-able dump of an image's structures. */
export interface Inspection {
  format: string;
  variant: string;
  virtualSize: number;
  structures: Structure[];
  [extra: string]: unknown;
}

export interface Problem {
  severity: 'error' | 'warning';
  message: string;
  structure?: string;
  offset?: number;
}

export interface CheckReport {
  problems: Problem[];
  /** What `--repair` fixed, when it was asked. */
  repaired?: string[];
}

/** An opened image: itself the BlockDevice of the virtual disk it holds. */
export interface Image extends BlockDevice {
  readonly format: string;
  readonly variant: string;
  /**
   * Damage open() read around: a structure whose checksum fails (used as it is, or replaced by a
   * good copy). Shown as warnings by every command; `check` reports each as an error.
   */
  readonly warnings?: Problem[];
  inspect(): Promise<Inspection>;
  /** Extra facts for `diskit info` (compression, chunk counts, parent, …): JSON-able. */
  info?(): Promise<Record<string, unknown>>;
  /** Consistency checks beyond what open() already enforces. */
  check?(opts?: { repair?: boolean }): Promise<CheckReport>;
}

export interface CreateOptions {
  /** `-o key=value` options, validated by the driver (unknown keys are a UsageError). */
  options?: Record<string, string>;
  onProgress?: (done: number, total: number) => void;
  name?: string;
  /** The passphrase for an encrypted output, asked for only when one is written. Never logged. */
  password?: () => Promise<string>;
  openRelative?: (name: string) => Promise<BlockDevice>;
}

/** What a format package implements. */
export interface FormatDriver {
  /** Canonical name used by `-f`/`-O`: raw, vhd, vhdx, dmg, iso, bin. */
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  /** 0 = not mine, 100 = certain. Must not throw. */
  probe(input: ProbeInput): number;
  open(file: BlockDevice, opts?: OpenOptions): Promise<Image>;
  /** Write a new image of this format holding `source`'s bytes, streaming and skipping holes. */
  create?(source: BlockDevice, sink: ImageSink, opts?: CreateOptions): Promise<void>;
  /** Small files written beside a new image, named relative to it (a .cue sheet beside a .bin). */
  sidecars?(outputName: string): { name: string; data: Uint8Array }[];
}
