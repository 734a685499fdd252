/**
 * The page's worker: every read, decode and conversion runs here, so the page never freezes. It
 * holds one open image at a time and answers the requests of protocol.ts.
 */
import { BlobDevice, HttpDevice, MemoryDevice, SliceDevice, collectExtents, isDiskitError, readBytes, walk, type BlockDevice, type Image, type ImageSink, type Volume } from '@diskit/core';
import { readPartitionTable } from '@diskit/raw';
import { browserRegistry } from './registry.js';
import { ZipWriter } from './zip.js';
import type { Delivery, Entry, Reply, Request, Source, Summary, VolumeSummary } from './protocol.js';

const reg = browserRegistry();
let current: { file: BlockDevice; image: Image; volumes: (Volume | undefined)[] } | undefined;
const CHUNK = 1 << 20;

const post = (m: Reply, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

function open(source: Source): Promise<BlockDevice> {
  if ('file' in source) return Promise.resolve(new BlobDevice(source.file));
  return HttpDevice.open(source.url, { headers: source.headers });
}

async function openImage(source: Source): Promise<Summary> {
  await current?.image.close().catch(() => {});
  current = undefined;
  const name = 'file' in source ? source.name : source.url;
  const file = await open(source);
  const { driver } = await reg.detect(file, name);
  const openRelative = 'url' in source ? (n: string) => open({ url: new URL(n, source.url).href, headers: source.headers }) : undefined;
  const image = await driver.open(file, { name, openRelative });
  let partitions: Summary['partitions'] = [];
  let partitionScheme = 'none';
  try {
    const t = await readPartitionTable(image);
    partitionScheme = t.scheme;
    partitions = t.partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, type: p.type, name: p.name, kind: p.kind }));
  } catch (e) {
    partitionScheme = `unreadable (${message(e)})`;
  }
  const volumes: (Volume | undefined)[] = [];
  const summaries: VolumeSummary[] = [];
  const tryMount = async (dev: BlockDevice, where: string) => {
    for (const fs of await reg.detectFilesystems(dev)) {
      try {
        const v = await fs.mount(dev);
        summaries.push({ id: volumes.length, where, fs: fs.name, info: await v.info() });
        volumes.push(v);
      } catch (e) {
        summaries.push({ id: volumes.length, where, fs: fs.name, error: message(e) });
        volumes.push(undefined);
      }
    }
  };
  await tryMount(image, 'whole disk');
  const whole = summaries.length > 0;
  for (const p of partitions) {
    if (p.kind === 'extended' || p.start >= image.size || (whole && p.start === 0)) continue;
    await tryMount(new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start)), `partition ${p.index}${p.name ? ` (${p.name})` : ''}`);
  }
  current = { file, image, volumes };
  return {
    name,
    format: image.format,
    variant: image.variant,
    virtualSize: image.size,
    fileSize: file.size,
    partitionScheme,
    partitions,
    volumes: summaries,
    inspection: await image.inspect(),
    extents: (await collectExtents(image)).slice(0, 2000),
    imageInfo: await image.info?.(),
  };
}

function volume(id: number): Volume {
  const v = current?.volumes[id];
  if (!v) throw new Error('no such volume (open an image first)');
  return v;
}

const toEntry = (e: { path: string; name: string; type: string; size: number; mtime?: Date; target?: string }): Entry => ({
  path: e.path, name: e.name, type: e.type, size: e.size, mtime: e.mtime?.toISOString(), target: e.target,
});

/** A device's bytes in order, `CHUNK` at a time (holes as zeros: a sequential stream cannot skip them). */
async function* bytesOf(dev: BlockDevice, progress?: (done: number) => void): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < dev.size; at += CHUNK) {
    const b = await readBytes(dev, at, Math.min(CHUNK, dev.size - at));
    progress?.(at + b.length);
    yield b;
  }
}

/** Send a device to the page: only its data runs when the page writes by position, everything otherwise. */
async function sendDevice(id: number, dev: BlockDevice, delivery: Delivery): Promise<number> {
  const report = (done: number) => post({ id, progress: [done, dev.size] });
  if (delivery === 'sequential') {
    let at = 0;
    for await (const b of bytesOf(dev, report)) {
      const n = b.length; // (the buffer is gone once transferred)
      post({ id, chunk: b, at }, [b.buffer]);
      at += n;
    }
    return dev.size;
  }
  for await (const e of dev.extents()) {
    if (e.kind !== 'data') continue;
    for (let at = e.offset; at < e.offset + e.length; at += CHUNK) {
      const b = await readBytes(dev, at, Math.min(CHUNK, e.offset + e.length - at));
      const end = at + b.length;
      post({ id, chunk: b, at }, [b.buffer]);
      report(end);
    }
  }
  return dev.size;
}

async function zipFolder(id: number, vol: Volume, root: string): Promise<number> {
  let at = 0;
  const zip = new ZipWriter(async (b) => {
    const copy = b.slice();
    post({ id, chunk: copy, at }, [copy.buffer]);
    at += b.length;
  });
  const base = root === '/' ? '/' : root + '/';
  const skipped: string[] = [];
  for await (const e of walk(vol, root, { onError: (p) => skipped.push(p.path) })) {
    const name = e.path.slice(base.length);
    if (e.type === 'directory') await zip.add(name + '/', e.mtime);
    else if (e.type === 'file') await zip.add(name, e.mtime, bytesOf(await vol.openFile(e.path)));
  }
  await zip.finish();
  if (skipped.length) throw new Error(`damaged directories were skipped: ${skipped.join(', ')}`);
  return at;
}

async function convert(id: number, format: string, delivery: Delivery): Promise<number> {
  if (!current) throw new Error('open an image first');
  const driver = reg.format(format);
  if (!driver.create) throw new Error(`diskit cannot write ${format} images`);
  const onProgress = (done: number, total: number) => post({ id, progress: [done, total] });
  if (delivery === 'positional') {
    let size = 0;
    const sink: ImageSink = {
      async write(from, offset) {
        const copy = from.slice();
        post({ id, chunk: copy, at: offset }, [copy.buffer]);
        size = Math.max(size, offset + from.length);
      },
      async truncate(n) {
        size = n;
      },
    };
    await driver.create(current.image, sink, { onProgress });
    return size;
  }
  // A sequential download needs the whole output first: writers go back to update tables.
  const mem = new MemoryDevice(0, { growable: true });
  await driver.create(current.image, mem, { onProgress });
  return sendDevice(id, mem, 'sequential');
}

async function handle(req: Request & { id: number }): Promise<unknown> {
  switch (req.op) {
    case 'open':
      return openImage(req.source);
    case 'readdir':
      return (await volume(req.volume).readdir(req.path)).map(toEntry);
    case 'search': {
      const q = req.query.toLowerCase();
      const hits: Entry[] = [];
      const skipped: string[] = [];
      for await (const e of walk(volume(req.volume), '/', { onError: (p) => skipped.push(`${p.path}: ${message(p.error)}`) })) {
        if (e.name.toLowerCase().includes(q)) hits.push(toEntry(e));
        if (hits.length >= req.limit) break;
      }
      return { hits, skipped };
    }
    case 'hex': {
      if (!current) throw new Error('open an image first');
      const length = Math.max(0, Math.min(req.length, 64 << 10, current.file.size - req.offset));
      return readBytes(current.file, req.offset, length);
    }
    case 'file':
      return sendDevice(req.id, await volume(req.volume).openFile(req.path), req.delivery);
    case 'zip':
      return zipFolder(req.id, volume(req.volume), req.path);
    case 'convert':
      return convert(req.id, req.format, req.delivery);
  }
}

/** Errors as the CLI prints them: one line naming the structure, offset and what was expected. */
function message(e: unknown): string {
  const err = e as Error;
  return isDiskitError(e) ? `${err.name}: ${err.message}` : (err?.message ?? String(e));
}

self.onmessage = (ev: MessageEvent<Request & { id: number }>) => {
  handle(ev.data).then(
    (value) => post({ id: ev.data.id, ok: true, value }),
    (e) => post({ id: ev.data.id, ok: false, error: message(e) }),
  );
};
