/** Node-only entry: build an ISO from a folder, streaming file data from disk to the sink once. */
import { lstatSync, readdirSync, readlinkSync, openSync, readSync, closeSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError, pumpDataRuns, type ImageSink } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { planIso, type BuildNode, type IsoBuildOptions } from './build/index.js';
import { SECTOR } from './structs.js';

export type { IsoBuildOptions } from './build/index.js';

export interface BuildIsoOptions extends IsoBuildOptions {
  onProgress?: (done: number, total: number) => void;
  /** Host paths left out of the image (the output itself when it lies inside the source). */
  exclude?: string[];
}

export interface BuildIsoResult {
  size: number;
  files: number;
  directories: number;
  bootEntries: { platform: string; lba: number; sectorCount: number }[];
}

const SMALL = 1 << 20;

/** Scan a folder (synchronously: 100,000 lstat calls are much faster without the thread pool hop). */
function scan(dir: string, exclude: Set<string>): BuildNode {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    throw new UsageError(`${dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const root: BuildNode = { name: '', type: 'directory', mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0, children: [] };
  const stack: [BuildNode, string][] = [[root, dir]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    const names = readdirSync(path).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const p = join(path, name);
      if (exclude.size && exclude.has(resolve(p))) continue;
      const s = lstatSync(p, { throwIfNoEntry: true });
      let k: BuildNode;
      if (s.isDirectory()) {
        k = mk(name, 'directory', s, 0, undefined, []);
        stack.push([k, p]);
      } else if (s.isFile()) {
        k = mk(name, 'file', s, s.size, undefined, undefined);
        if (s.nlink > 1) k.linkKey = `${s.dev}:${s.ino}`;
      }
      else if (s.isSymbolicLink()) {
        k = mk(name, 'symlink', s, 0, undefined, undefined);
        k.target = readlinkSync(p);
      } else if (s.isSocket()) continue;
      else {
        k = mk(name, 'other', s, 0, undefined, undefined);
        k.rdev = s.rdev;
      }
      node.children!.push(k);
    }
  }
  return root;
}

/** Every node gets the same shape (fast properties, less memory for 100,000 of them). */
function mk(name: string, type: BuildNode['type'], s: Stats, size: number, source: string | undefined, children: BuildNode[] | undefined): BuildNode {
  return {
    name, type, mode: s.mode, uid: s.uid, gid: s.gid, mtime: s.mtime, size, rdev: undefined, target: undefined, children, source,
    bytes: undefined, linkKey: undefined, subdirs: undefined, parent: undefined, isoName: undefined, jolName: undefined,
    dataLba: undefined, isoDir: undefined, jolDir: undefined,
  };
}

/** Read a whole small file into `into` (its size known from the scan). */
function readExact(path: string, into: Uint8Array): void {
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < into.length) {
      const n = readSync(fd, into, done, into.length - done, done);
      if (n === 0) throw new UsageError(`${path} shrank while the image was built (${into.length} → ${done} bytes)`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Coalesces neighbouring writes into large ones. */
class Coalescer {
  // Two buffers: one fills while the other is being written.
  private bufs = [new Uint8Array(2 << 20), new Uint8Array(2 << 20)];
  private which = 0;
  private buf = this.bufs[0]!;
  private start = 0;
  private len = 0;
  private pending: Promise<void> = Promise.resolve();
  constructor(private readonly sink: ImageSink) {}
  /** A buffer slice for `length` bytes at `offset` (small gaps before it are zero-filled). */
  async reserve(offset: number, length: number): Promise<Uint8Array> {
    const end = this.start + this.len;
    const gap = offset - end;
    if (this.len > 0 && (gap < 0 || gap >= SECTOR || this.len + gap + length > this.buf.length)) await this.flush();
    if (this.len === 0) this.start = offset;
    else if (gap > 0) {
      this.buf.fill(0, this.len, this.len + gap);
      this.len += gap;
    }
    const view = this.buf.subarray(this.len, this.len + length);
    this.len += length;
    return view;
  }
  async put(bytes: Uint8Array, offset: number): Promise<void> {
    if (this.len > 0 && (offset !== this.start + this.len || this.len + bytes.length > this.buf.length)) await this.flush();
    if (bytes.length > this.buf.length) {
      await this.drain();
      await this.sink.write(bytes, offset);
      return;
    }
    if (this.len === 0) this.start = offset;
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  /** Start writing the filled buffer and switch to the other one (after its write finished). */
  async flush(): Promise<void> {
    if (!this.len) return;
    await this.pending;
    this.pending = this.sink.write(this.buf.subarray(0, this.len), this.start);
    this.pending.catch(() => {});
    this.which ^= 1;
    this.buf = this.bufs[this.which]!;
    this.len = 0;
  }
  /** Everything handed over is written. */
  async drain(): Promise<void> {
    await this.flush();
    await this.pending;
  }
}

function epochFromEnv(): number | undefined {
  const v = process.env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds (got '${v}')`);
  return Number(v);
}

/**
 * Build an ISO9660 image of `sourceDir` into `sink`: level 3 names with Rock Ridge and Joliet by
 * default, optional El Torito BIOS/EFI boot. Deterministic for a given tree and SOURCE_DATE_EPOCH.
 */
export async function buildIso(sourceDir: string, sink: ImageSink, opts: BuildIsoOptions = {}): Promise<BuildIsoResult> {
  const root = scan(sourceDir, new Set((opts.exclude ?? []).map((p) => resolve(p))));
  const epoch = opts.sourceDateEpoch ?? epochFromEnv();
  const now = epoch !== undefined ? new Date(epoch * 1000) : new Date(Math.floor(Date.now() / 1000) * 1000);
  const plan = planIso(root, { ...opts, sourceDateEpoch: epoch }, now);
  const total = plan.totalBlocks * SECTOR;
  const out = new Coalescer(sink);
  for (const m of plan.metadata()) await out.put(m.bytes, m.offset);

  let done = 0;
  // Host paths are rebuilt from the tree rather than kept for 100,000 files.
  const hostPath = (n: BuildNode): string => {
    const parts: string[] = [];
    for (let x = n; x !== root; x = x.parent!) parts.push(x.name);
    return join(sourceDir, ...parts.reverse());
  };
  for (const f of plan.files) {
    if (f.size === 0) continue;
    const source = f.source ?? hostPath(f);
    const base = f.dataLba! * SECTOR;
    const patch = plan.bootPatches.get(f);
    if (patch) {
      const data = new Uint8Array(f.size);
      readExact(source, data);
      patch(data);
      await out.put(data, base);
    } else if (f.size <= SMALL) {
      readExact(source, await out.reserve(base, f.size));
    } else {
      await out.drain();
      const dev = await FileDevice.open(source);
      try {
        if (dev.size !== f.size) throw new UsageError(`${source} changed size while the image was built (${f.size} → ${dev.size})`);
        await pumpDataRuns(dev, (data, offset) => sink.write(data, base + offset), { ordered: false });
      } finally {
        await dev.close();
      }
    }
    done += f.size;
    opts.onProgress?.(done, total);
  }
  await out.drain();
  await sink.truncate(total);
  await sink.flush?.();
  let dirs = 0;
  const count = (n: BuildNode) => {
    if (n.type === 'directory') {
      dirs++;
      n.children?.forEach(count);
    }
  };
  count(root);
  return { size: total, files: plan.files.length, directories: dirs, bootEntries: plan.bootEntries };
}
