/**
 * Writing a `.sparsebundle` as hdiutil does: Info.plist and its copy Info.bckup, an empty
 * `token`, and `bands/<hex>` only for bands that hold non-zero bytes. A band file is as long as
 * its band (the last one: to the disk's end); only its non-zero runs are written, the rest is
 * left a hole in the host file.
 */
import type { BlockDevice, CreateOptions, DirectoryFile, DirectorySink } from '@diskit/core';
import { buildBundleInfo, MAX_BUNDLE_BAND } from './info-plist.js';
import { parseBandOptions, pumpBands } from '../bands.js';

/** hdiutil's default band: 8 MiB (sparse-band-size 16384 sectors). */
export const DEFAULT_BUNDLE_BAND = 8 << 20;

interface BandOut {
  file: Promise<DirectoryFile>;
  writes: Promise<void>[];
}

export async function createSparseBundle(source: BlockDevice, out: DirectorySink, opts: CreateOptions = {}): Promise<void> {
  const { bandSize } = parseBandOptions(opts.options, 'sparsebundle', DEFAULT_BUNDLE_BAND, MAX_BUNDLE_BAND);
  // A whole number of sectors, as hdiutil's sizes are.
  const size = Math.ceil(source.size / 512) * 512;
  const info = new TextEncoder().encode(buildBundleInfo(bandSize, size));
  for (const name of ['Info.plist', 'Info.bckup']) await writeWhole(out, name, info);
  await writeWhole(out, 'token', new Uint8Array(0));

  const open = new Map<number, BandOut>();
  const finishing: Promise<void>[] = [];
  /** Close every band before `band`: data arrives in disk order, so they are complete. */
  const finishBefore = (band: number) => {
    for (const [b, o] of open) {
      if (b >= band) continue;
      open.delete(b);
      finishing.push(finish(b, o));
    }
  };
  const finish = async (band: number, o: BandOut) => {
    const f = await o.file;
    await Promise.all(o.writes);
    await f.truncate(Math.min(bandSize, size - band * bandSize));
    await f.close();
  };

  try {
    await pumpBands(
      source,
      bandSize,
      (band, inBand, piece) => {
        finishBefore(band);
        let o = open.get(band);
        if (!o) open.set(band, (o = { file: out.create(`bands/${band.toString(16)}`), writes: [] }));
        const w = o.file.then((f) => f.write(piece, inBand));
        o.writes.push(w);
        return w;
      },
      opts.onProgress,
    );
  } finally {
    finishBefore(Infinity);
    const results = await Promise.allSettled(finishing);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

async function writeWhole(out: DirectorySink, path: string, bytes: Uint8Array): Promise<void> {
  const f = await out.create(path);
  try {
    if (bytes.length) await f.write(bytes, 0);
    await f.truncate(bytes.length);
  } finally {
    await f.close();
  }
}
