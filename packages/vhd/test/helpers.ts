/** Shared helpers for this package's tests (not a test file itself). */
import { mkdtempSync, readFileSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectExtents, type Extent, type FormatDriver, type Image } from '@diskit/core';
import { FileDevice, AtomicOutput, relativeOpener } from '@diskit/core/node';
import { run } from '../../../test/tools.js';

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'diskit-vhd-'));

/** Deterministic pseudo-random bytes. */
export function prng(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A sparse raw file of `size` bytes with random data at the given [offset, length] spots. */
export function scatteredRaw(path: string, size: number, spots: [number, number][], seed = 1): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  spots.forEach(([o, l], i) => writeSync(fd, prng(seed + i, Math.min(l, size - o)), 0, Math.min(l, size - o), o));
  closeSync(fd);
}

export async function openWith(driver: FormatDriver, path: string, writable = false): Promise<{ image: Image; file: FileDevice; close(): Promise<void> }> {
  const file = await FileDevice.open(path, { writable });
  const image = await driver.open(file, { name: path, openRelative: relativeOpener(path), writable });
  return { image, file, close: async () => { await image.close(); await file.close(); } };
}

export async function readAll(image: Image): Promise<Buffer> {
  const out = Buffer.alloc(image.size);
  const chunk = 3 << 20; // not block-aligned on purpose
  for (let o = 0; o < image.size; o += chunk) await image.read(out.subarray(o, Math.min(image.size, o + chunk)), o);
  return out;
}

export function qemuRaw(path: string, fmt: string, dir: string): Buffer {
  const out = join(dir, `qemu-${Math.random().toString(36).slice(2)}.raw`);
  run('qemu-img', ['convert', '-f', fmt, '-O', 'raw', path, out]);
  return readFileSync(out);
}

export function qemuInfo(path: string, fmt?: string): { 'virtual-size': number; format: string; [k: string]: unknown } {
  return JSON.parse(run('qemu-img', ['info', '--output=json', ...(fmt ? ['-f', fmt] : []), path]));
}

export interface MapEntry { start: number; length: number; data: boolean; zero: boolean }
export function qemuMap(path: string, fmt: string): MapEntry[] {
  return JSON.parse(run('qemu-img', ['map', '--output=json', '-f', fmt, path]));
}

/** Ranges holding data, merged. */
export function dataRanges(list: { start: number; length: number; data: boolean }[]): [number, number][] {
  const out: [number, number][] = [];
  for (const e of list) {
    if (!e.data || e.length === 0) continue;
    const last = out[out.length - 1];
    if (last && last[1] === e.start) last[1] += e.length;
    else out.push([e.start, e.start + e.length]);
  }
  return out;
}

export async function ourDataRanges(image: Image): Promise<[number, number][]> {
  const ex: Extent[] = await collectExtents(image);
  return dataRanges(ex.map((e) => ({ start: e.offset, length: e.length, data: e.kind === 'data' })));
}

/** Write `source` with `driver.create` into `path`. */
export async function createWith(driver: FormatDriver, source: Image | FileDevice, path: string, options: Record<string, string> = {}): Promise<void> {
  const out = await AtomicOutput.create(path, { force: true });
  try {
    await driver.create!(source, out, { options });
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
}

export { writeFileSync, readFileSync, join };
