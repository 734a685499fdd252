import {
  MemoryDevice, SliceDevice, collectExtents, dataRuns, pumpDataRuns, isDiskitError, walk, UnsupportedFeatureError,
  fileSetSource, isDirectoryDriver, type BlockDevice, type Image, type Registry,
} from '@diskit/core';
import type { Target } from './mutate.js';
import { FUZZ_PASSWORD } from './seeds.js';
import { readPartitionTable } from '@diskit/raw';

/** Bytes of virtual disk and file data read per case: enough to reach every structure of a small seed. */
const READ_BUDGET = 32 << 20;
const MAX_ENTRIES = 20_000;

/**
 * Everything a user can do with an image, on one (possibly hostile) file held in memory: detect,
 * open, inspect, info, check, map, read every extent (8 at a time) and convert to a null sink, read the partition
 * table, mount the filesystem, walk it and read every file. Returns the error a well-behaved parser
 * may throw (a DiskitError), or null; anything else propagates as a bug.
 */
export async function exercise(reg: Registry, bytes: Uint8Array, name: string): Promise<string | null> {
  if (name.endsWith('.plist')) return exerciseBundle(reg, bytes);
  const file = new MemoryDevice(bytes, { readOnly: true });
  try {
    const { driver } = await reg.detect(file, name);
    const image = await driver.open(file, {
      name,
      password: async () => FUZZ_PASSWORD,
      openRelative: async (n: string) => {
        throw new UnsupportedFeatureError(`fuzz: no neighbour files (${n})`);
      },
    });
    return await exerciseImage(reg, image);
  } catch (e) {
    return rethrowBugs(e);
  }
}

/**
 * A sparse bundle whose Info.plist is the (mutated) case: beside it a full band, a missing one,
 * a short one, one past the seed's disk, and a name that is no band.
 */
async function exerciseBundle(reg: Registry, plist: Uint8Array): Promise<string | null> {
  const band = (n: number, fill: number) => ({ size: n, slice: (s: number, e: number) => ({ arrayBuffer: async () => new Uint8Array(Math.max(0, Math.min(e, n) - s)).fill(fill).buffer }) });
  const files = new Map([
    ['Info.plist', { size: plist.length, slice: (s: number, e: number) => ({ arrayBuffer: async () => plist.slice(s, e).buffer }) }],
    ['bands/0', band(4096, 0x11)],
    ['bands/2', band(100, 0x22)],
    ['bands/3', band(4096, 0x33)],
    ['bands/9', band(10, 0x99)],
    ['bands/x', band(1, 1)],
  ]);
  try {
    const dir = fileSetSource('fuzz.sparsebundle', files);
    const driver = reg.formats.filter(isDirectoryDriver)[0];
    if (!driver || (await driver.probeDirectory(dir)) === 0) return 'not a bundle';
    return await exerciseImage(reg, await driver.openDirectory(dir));
  } catch (e) {
    return rethrowBugs(e);
  }
}

async function exerciseImage(reg: Registry, image: Image): Promise<string | null> {
  try {
    try {
      await image.inspect();
      await image.info?.();
      await image.check?.();
      await collectExtents(image);
      let budget = READ_BUDGET;
      const window = new SliceDevice(image, 0, Math.min(image.size, READ_BUDGET));
      // The parallel pump, as convert uses it: 8 concurrent reads of the hostile image.
      budget -= (await pumpDataRuns(window, () => {}, { chunkSize: 1 << 20 })).dataBytes;
      await readPartitionTable(image).catch(rethrowBugs);
      await readFiles(reg, image, budget);
    } finally {
      await image.close();
    }
    return null;
  } catch (e) {
    return rethrowBugs(e);
  }
}

async function readFiles(reg: Registry, image: BlockDevice, budget: number): Promise<void> {
  const fs = await reg.detectFilesystem(image);
  if (!fs) return;
  const vol = await fs.mount(image);
  await vol.check?.();
  let n = 0;
  // as ls -R and extract walk: damaged directories reported and skipped, the rest still read
  for await (const e of walk(vol, '/', { onError: () => {} })) {
    if (++n > MAX_ENTRIES) break;
    await vol.stat(e.path);
    if (e.type !== 'file' || budget <= 0) continue;
    const dev = await vol.openFile(e.path);
    const slice = new SliceDevice(dev, 0, Math.min(dev.size, budget));
    for await (const run of dataRuns(slice, { chunkSize: 256 << 10 })) budget -= run.data.length;
    budget -= 4096;
    await dev.close();
  }
}

function rethrowBugs(e: unknown): string {
  if (isDiskitError(e)) return `${e.name}: ${e.message}`;
  throw e;
}

export type { Target };
