/** The committed ntfs-3g fixture (test-images/make-ntfs.sh), unpacked once per test file. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { FileDevice } from '@diskit/core/node';
import { dataRuns, type BlockDevice } from '@diskit/core';
import { NtfsVolume, type MountOptions } from '../volume.js';

export const fixtureDir = resolve(__dirname, '../../../../test-images/ntfs');

export interface ManifestLine {
  kind: 'f' | 'd' | 'l' | 's';
  size: number;
  hash: string;
  path: string;
}

export function manifest(): ManifestLine[] {
  return readFileSync(join(fixtureDir, 'full.manifest'), 'utf8').trim().split('\n').map((l) => {
    const [kind, size, hash, ...rest] = l.split(' ');
    return { kind: kind as ManifestLine['kind'], size: Number(size), hash: hash!, path: rest.join(' ') };
  });
}

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `diskit-ntfs-${tag}-`));
}

/** Unpack full.img.xz into `dir`, returning the image path. */
export function unpackFull(dir: string): string {
  const out = join(dir, 'full.img');
  writeFileSync(out, execFileSync('xz', ['-dc', join(fixtureDir, 'full.img.xz')], { maxBuffer: 1 << 28 }));
  return out;
}

export async function mountFile(path: string, opts?: MountOptions): Promise<{ vol: NtfsVolume; dev: FileDevice }> {
  const dev = await FileDevice.open(path);
  return { vol: await NtfsVolume.mount(dev, opts), dev };
}

/** sha256 of a device's bytes, read through its extents (holes are hashed as zeros without reading). */
export async function sha256(dev: BlockDevice): Promise<string> {
  const h = createHash('sha256');
  const zero = new Uint8Array(1 << 20);
  let pos = 0;
  for await (const run of dataRuns(dev, { chunkSize: 1 << 20 })) {
    for (; pos < run.offset; ) {
      const n = Math.min(zero.length, run.offset - pos);
      h.update(zero.subarray(0, n));
      pos += n;
    }
    h.update(run.data);
    pos += run.data.length;
  }
  for (; pos < dev.size; ) {
    const n = Math.min(zero.length, dev.size - pos);
    h.update(zero.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
