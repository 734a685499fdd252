import type { BlockDevice } from './device.js';
import type { FormatDriver, ProbeInput } from './driver.js';
import type { FilesystemDriver } from './volume.js';
import { UnsupportedFeatureError, UsageError } from './errors.js';
import { foreignFormat } from './foreign.js';

/** Read the head (64 KiB) and tail (512 bytes) of a file once, for every driver's probe. */
export async function probeInput(file: BlockDevice, name?: string): Promise<ProbeInput> {
  const headLen = Math.min(file.size, 64 << 10);
  const tailLen = Math.min(file.size, 512);
  const head = new Uint8Array(headLen);
  const tail = new Uint8Array(tailLen);
  await file.read(head, 0);
  await file.read(tail, file.size - tailLen);
  return { head, tail, size: file.size, name };
}

/** The formats and filesystems a program knows: the CLI fills one with every package. */
export class Registry {
  readonly formats: FormatDriver[] = [];
  readonly filesystems: FilesystemDriver[] = [];

  addFormat(...d: FormatDriver[]): this {
    this.formats.push(...d);
    return this;
  }
  addFilesystem(...d: FilesystemDriver[]): this {
    this.filesystems.push(...d);
    return this;
  }

  format(name: string): FormatDriver {
    const n = name.toLowerCase();
    const d = this.formats.find((f) => f.name === n || f.aliases?.includes(n));
    if (!d) throw new UsageError(`unknown format '${name}' (known: ${this.formats.map((f) => f.name).join(', ')})`);
    return d;
  }

  /**
   * The driver with the highest probe score; `fallback` (raw) when none claims the file, unless
   * it carries the signature of a format diskit does not read (VMDK, qcow2, VDI, …): refused by name.
   */
  async detect(file: BlockDevice, name?: string, fallback = 'raw'): Promise<{ driver: FormatDriver; score: number }> {
    const input = await probeInput(file, name);
    let best: { driver: FormatDriver; score: number } | undefined;
    for (const driver of this.formats) {
      let score = 0;
      try {
        score = driver.probe(input);
      } catch {
        score = 0;
      }
      if (score > 0 && (!best || score > best.score)) best = { driver, score };
    }
    // raw claims everything weakly: only another driver's claim beats a foreign signature
    if (best && best.driver.name !== fallback) return best;
    const foreign = foreignFormat(input);
    if (foreign) {
      const an = /^([aeiou]|xz)/i.test(foreign.name) ? 'an' : 'a';
      const what = foreign.hint ? `${an} ${foreign.name} file: not a disk image diskit reads; ${foreign.hint}` : `${an} ${foreign.name} image: not supported`;
      throw new UnsupportedFeatureError(`${name ? `${name}: ` : ''}${what} (-f raw reads its bytes as a raw disk)`);
    }
    return best ?? { driver: this.format(fallback), score: 0 };
  }

  /** The filesystem driver with the highest probe score; `only` (a driver name) considers that one alone. */
  async detectFilesystem(dev: BlockDevice, only?: string): Promise<FilesystemDriver | undefined> {
    return (await this.detectFilesystems(dev, only))[0];
  }

  /** Every filesystem driver that claims `dev`, best first (a UDF bridge disc is also ISO9660). */
  async detectFilesystems(dev: BlockDevice, only?: string): Promise<FilesystemDriver[]> {
    if (only !== undefined && !this.filesystems.some((f) => f.name === only)) {
      throw new UsageError(`unknown filesystem '${only}' (known: ${this.filesystems.map((f) => f.name).join(', ')})`);
    }
    const scored: { d: FilesystemDriver; s: number }[] = [];
    for (const d of this.filesystems) {
      if (only !== undefined && d.name !== only) continue;
      const s = await d.probe(dev).catch(() => 0);
      if (s > 0) scored.push({ d, s });
    }
    return scored.sort((a, b) => b.s - a.s).map((x) => x.d);
  }
}
