import type { BlockDevice, ImageSink } from './device.js';
import { forEachDataRun } from './zero.js';

export interface DataRunOptions {
  /** Bytes read per step (default 4 MiB): one reused buffer of this size. */
  chunkSize?: number;
  /** Zero detection granularity inside data extents (default 64 KiB; 0 disables detection). */
  zeroGranularity?: number;
  /** Range of the source to walk (default: all of it). */
  offset?: number;
  length?: number;
  onProgress?: (done: number, total: number) => void;
}

/** A run of non-zero bytes. `data` is only valid until the iterator advances. */
export interface DataRun {
  offset: number;
  data: Uint8Array;
}

/**
 * The streaming copy pump: walks `source`'s extents, reads data extents in large chunks into one
 * reused buffer and yields only the runs that hold non-zero bytes. Holes are never read.
 * While the consumer handles one chunk the next is already being read (double buffering).
 */
export async function* dataRuns(source: BlockDevice, opts: DataRunOptions = {}): AsyncGenerator<DataRun> {
  const chunkSize = opts.chunkSize ?? 4 << 20;
  const gran = opts.zeroGranularity ?? 64 << 10;
  const start = opts.offset ?? 0;
  const total = opts.length ?? source.size - start;
  const bufs = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  let which = 0;
  let done = 0;

  // The list of chunk reads to make, produced lazily from the extent map.
  async function* chunks(): AsyncGenerator<[number, number]> {
    for await (const e of source.extents(start, total)) {
      if (e.kind !== 'data') {
        done += e.length;
        opts.onProgress?.(done, total);
        continue;
      }
      // Align chunk boundaries to chunkSize in device space so runs start at natural offsets.
      for (let pos = e.offset, end = e.offset + e.length; pos < end; ) {
        const next = Math.min(end, (Math.floor(pos / chunkSize) + 1) * chunkSize);
        yield [pos, next - pos];
        pos = next;
      }
    }
  }

  const it = chunks();
  const readChunk = async (): Promise<{ off: number; buf: Uint8Array } | null> => {
    const n = await it.next();
    if (n.done) return null;
    const [off, len] = n.value;
    const buf = bufs[which]!.subarray(0, len);
    which ^= 1;
    await source.read(buf, off);
    return { off, buf };
  };

  let pending = readChunk();
  for (;;) {
    const cur = await pending;
    if (!cur) break;
    pending = readChunk();
    // Avoid an unhandled rejection if the consumer stops early.
    pending.catch(() => {});
    if (gran <= 0) {
      yield { offset: cur.off, data: cur.buf };
    } else {
      const runs: [number, number][] = [];
      forEachDataRun(cur.buf, gran, (s, e) => runs.push([s, e]));
      for (const [s, e] of runs) yield { offset: cur.off + s, data: cur.buf.subarray(s, e) };
    }
    done += cur.buf.length;
    opts.onProgress?.(done, total);
  }
}

export interface CopyStats {
  /** Bytes written. */
  dataBytes: number;
  /** Bytes skipped as holes or zeros. */
  skippedBytes: number;
}

/** Copy a device into a sink byte for byte, leaving zero ranges as holes, then set the final size. */
export async function copyDevice(source: BlockDevice, sink: ImageSink, opts: DataRunOptions = {}): Promise<CopyStats> {
  let dataBytes = 0;
  for await (const run of dataRuns(source, opts)) {
    await sink.write(run.data, run.offset);
    dataBytes += run.data.length;
  }
  await sink.truncate(source.size);
  await sink.flush?.();
  return { dataBytes, skippedBytes: source.size - dataBytes };
}
