/** Node-only entry: build an ISO from a folder, streaming file data from disk to the sink once. */
import { lstat, readdir, readlink, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, dataRuns, type ImageSink } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { planIso, type BuildNode, type IsoBuildOptions } from './build.js';
import { SECTOR } from './structs.js';

export type { IsoBuildOptions } from './build.js';

export interface BuildIsoOptions extends IsoBuildOptions {
  onProgress?: (done: number, total: number) => void;
}

export interface BuildIsoResult {
  size: number;
  files: number;
  directories: number;
  bootEntries: { platform: string; lba: number; sectorCount: number }[];
}

const SMALL = 1 << 20;

async function scan(dir: string): Promise<BuildNode> {
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const root: BuildNode = { name: '', type: 'directory', mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0, children: [] };
  const stack: [BuildNode, string][] = [[root, dir]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    const names = (await readdir(path)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const kids = await Promise.all(
      names.map(async (name): Promise<BuildNode | undefined> => {
        const p = join(path, name);
        const s = await lstat(p);
        const base = { name, mode: s.mode, uid: s.uid, gid: s.gid, mtime: s.mtime };
        if (s.isDirectory()) return { ...base, type: 'directory', size: 0, children: [] };
        if (s.isFile()) return { ...base, type: 'file', size: s.size, source: p };
        if (s.isSymbolicLink()) return { ...base, type: 'symlink', size: 0, target: await readlink(p) };
        if (s.isSocket()) return undefined;
        return { ...base, type: 'other', size: 0, rdev: s.rdev };
      }),
    );
    for (let i = 0; i < kids.length; i++) {
      const k = kids[i];
      if (!k) continue;
      node.children!.push(k);
      if (k.type === 'directory') stack.push([k, join(path, names[i]!)]);
    }
  }
  return root;
}

/** Coalesces neighbouring writes into large ones. */
class Coalescer {
  private buf = new Uint8Array(4 << 20);
  private start = 0;
  private len = 0;
  constructor(private readonly sink: ImageSink) {}
  async put(bytes: Uint8Array, offset: number): Promise<void> {
    if (this.len > 0 && (offset !== this.start + this.len || this.len + bytes.length > this.buf.length)) await this.flush();
    if (bytes.length > this.buf.length) {
      await this.sink.write(bytes, offset);
      return;
    }
    if (this.len === 0) this.start = offset;
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }
  async flush(): Promise<void> {
    if (this.len) await this.sink.write(this.buf.subarray(0, this.len), this.start);
    this.len = 0;
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
  const root = await scan(sourceDir);
  const epoch = opts.sourceDateEpoch ?? epochFromEnv();
  const now = epoch !== undefined ? new Date(epoch * 1000) : new Date(Math.floor(Date.now() / 1000) * 1000);
  const plan = planIso(root, { ...opts, sourceDateEpoch: epoch }, now);
  const total = plan.totalBlocks * SECTOR;
  const out = new Coalescer(sink);
  for (const m of plan.metadata()) await out.put(m.bytes, m.offset);

  let done = 0;
  // Small files are read a few at a time ahead of the writer; big ones stream through dataRuns.
  const files = plan.files.filter((f) => f.size > 0);
  const ahead = 16;
  const pending: (Promise<Uint8Array> | undefined)[] = [];
  const startRead = (i: number) => {
    const f = files[i];
    if (f && f.size <= SMALL && !pending[i]) {
      pending[i] = readFile(f.source!).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      pending[i]!.catch(() => {});
    }
  };
  for (let i = 0; i < Math.min(ahead, files.length); i++) startRead(i);
  for (let i = 0; i < files.length; i++) {
    startRead(i + ahead);
    const f = files[i]!;
    const base = f.dataLba! * SECTOR;
    const patch = plan.bootPatches.get(f);
    if (f.size <= SMALL || patch) {
      let data = pending[i] ? await pending[i]! : new Uint8Array(await readFile(f.source!));
      pending[i] = undefined;
      if (data.length !== f.size) throw new UsageError(`${f.source} changed size while the image was built (${f.size} → ${data.length})`);
      if (patch) {
        data = data.slice();
        patch(data);
      }
      await out.put(data, base);
    } else {
      await out.flush();
      const dev = await FileDevice.open(f.source!);
      try {
        if (dev.size !== f.size) throw new UsageError(`${f.source} changed size while the image was built (${f.size} → ${dev.size})`);
        for await (const run of dataRuns(dev, { chunkSize: 4 << 20 })) await sink.write(run.data, base + run.offset);
      } finally {
        await dev.close();
      }
    }
    done += f.size;
    opts.onProgress?.(done, total);
  }
  await out.flush();
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
