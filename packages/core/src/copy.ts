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
 * The streaming copy pump: walks `source`'s extents, reads data extents in large chunks and yields
 * only the runs that hold non-zero bytes. Holes are never read. Two reused buffers: the next chunk
 * is read while the consumer handles the current one (measured ~18% faster on raw→raw).
 */
export async function* dataRuns(source: BlockDevice, opts: DataRunOptions = {}): AsyncGenerator<DataRun> {
  const chunkSize = opts.chunkSize ?? 4 << 20;
  const gran = opts.zeroGranularity ?? 64 << 10;
  const start = opts.offset ?? 0;
  const total = opts.length ?? source.size - start;
  const buffers = [0, 1].map(() => new Uint8Array(bufferSize(chunkSize, total)));
  let done = 0;

  const plan = chunkPlan(source, start, total, chunkSize, (n) => {
    done += n;
    opts.onProgress?.(done, total);
  });
  let which = 0;
  const readNext = async (): Promise<{ pos: number; buf: Uint8Array } | null> => {
    const n = await plan.next();
    if (n.done) return null;
    const [pos, len] = n.value;
    const buf = buffers[which]!.subarray(0, len);
    which ^= 1;
    await source.read(buf, pos);
    return { pos, buf };
  };

  let pending = readNext();
  const runs: number[] = [];
  try {
    for (;;) {
      const cur = await pending;
      if (!cur) break;
      // The other buffer is free: the consumer has finished with the previous chunk.
      pending = readNext();
      const { pos, buf } = cur;
      nonZeroRuns(buf, gran, runs);
      for (let i = 0; i < runs.length; i += 2) yield { offset: pos + runs[i]!, data: buf.subarray(runs[i]!, runs[i + 1]!) };
      done += buf.length;
      opts.onProgress?.(done, total);
    }
  } finally {
    // A consumer that stops early (or fails) must not leave a read in flight unobserved.
    await pending.catch(() => null);
  }
}

export interface PumpOptions extends DataRunOptions {
  /** Chunks read and written at once (default 8), each with its own buffer of `chunkSize` (default 1 MiB). */
  lanes?: number;
  /**
   * Hand chunks to `consume` in device order (default true), for writers that lay data out as it
   * arrives. A sink that writes each run at its own offset passes false: no chunk then waits for a
   * slower read before it (measured ~6 ms of 150 on the 1 GiB raw→raw copy).
   */
  ordered?: boolean;
}

/**
 * The parallel copy pump: like {@link dataRuns}, but `lanes` chunks are in flight at once, so
 * reads, zero checks and writes overlap on the thread pool (measured on raw→raw, 1 GiB half data:
 * 0.20 s of copying with one read ahead; 0.16 s with 4 lanes of 1 MiB; 0.15 s with 8). `consume` is called in device order (a
 * writer that allocates blocks as data arrives lays them out deterministically); the promise it
 * returns may still be pending when the next call comes, and `data` stays valid until it settles.
 */
export async function pumpDataRuns(
  source: BlockDevice,
  consume: (data: Uint8Array, offset: number) => Promise<void> | void,
  opts: PumpOptions = {},
): Promise<CopyStats> {
  const chunkSize = opts.chunkSize ?? 1 << 20;
  const gran = opts.zeroGranularity ?? 64 << 10;
  const lanes = Math.max(1, opts.lanes ?? 8);
  const start = opts.offset ?? 0;
  const total = opts.length ?? source.size - start;
  let done = 0;
  let dataBytes = 0;
  const progress = (n: number) => {
    done += n;
    opts.onProgress?.(done, total);
  };
  const plan = chunkPlan(source, start, total, chunkSize, progress);

  // Chunk i is handed to `consume` only after chunk i-1 was, whichever lane read it first.
  let turn = 0;
  let failure: { error: unknown } | undefined;
  const waiting = new Map<number, () => void>();
  const ordered = opts.ordered ?? true;
  const myTurn = (i: number) => (!ordered || i === turn || failure ? undefined : new Promise<void>((r) => waiting.set(i, r)));
  const pass = () => {
    turn++;
    waiting.get(turn)?.();
    waiting.delete(turn);
  };
  async function lane(buffer: Uint8Array): Promise<void> {
    const runs: number[] = [];
    const writes: (Promise<void> | void)[] = [];
    try {
      while (!failure) {
        const step = await plan.next();
        if (step.done) return;
        const [pos, len, index] = step.value;
        const buf = buffer.subarray(0, len);
        try {
          await source.read(buf, pos);
        } catch (error) {
          fail(error);
          return;
        }
        await myTurn(index);
        if (failure) return;
        writes.length = 0;
        try {
          nonZeroRuns(buf, gran, runs);
          for (let i = 0; i < runs.length; i += 2) {
            writes.push(consume(buf.subarray(runs[i]!, runs[i + 1]!), pos + runs[i]!));
            dataBytes += runs[i + 1]! - runs[i]!;
          }
        } finally {
          pass();
        }
        // The buffer is reused only when every write from it has finished.
        await Promise.all(writes);
        progress(len);
      }
    } catch (error) {
      // Let this lane's other writes settle before the caller hears of the failure.
      await Promise.allSettled(writes);
      fail(error);
    }
  }
  function fail(error: unknown) {
    failure ??= { error };
    for (const wake of waiting.values()) wake();
    waiting.clear();
  }

  // No more lanes, nor larger buffers, than the range has chunks (a small file gets one small buffer).
  const needed = Math.min(lanes, Math.ceil(total / chunkSize) + 1);
  await Promise.all(Array.from({ length: needed }, () => lane(new Uint8Array(bufferSize(chunkSize, total)))));
  if (failure) {
    await plan.return(undefined);
    throw failure.error;
  }
  return { dataBytes, skippedBytes: total - dataBytes };
}

/** Fill `runs` with the [start, end) pairs of `buf`'s non-zero runs (all of it when `gran` ≤ 0). */
function nonZeroRuns(buf: Uint8Array, gran: number, runs: number[]): void {
  runs.length = 0;
  if (gran <= 0) runs.push(0, buf.length);
  else forEachDataRun(buf, gran, (s, e) => runs.push(s, e));
}

/** A chunk never exceeds the range it comes from. */
function bufferSize(chunkSize: number, total: number): number {
  return Math.max(0, Math.min(chunkSize, total));
}

/** The chunk reads to make over a range, from the extent map; holes only advance the progress count. */
async function* chunkPlan(
  source: BlockDevice,
  start: number,
  total: number,
  chunkSize: number,
  onSkipped: (n: number) => void,
): AsyncGenerator<[pos: number, length: number, index: number]> {
  let index = 0;
  for await (const e of source.extents(start, total)) {
    if (e.kind !== 'data') {
      onSkipped(e.length);
      continue;
    }
    for (let pos = e.offset, end = e.offset + e.length; pos < end; ) {
      // Chunk boundaries aligned to chunkSize in device space, so runs start at natural offsets.
      const next = Math.min(end, (Math.floor(pos / chunkSize) + 1) * chunkSize);
      yield [pos, next - pos, index++];
      pos = next;
    }
  }
}

export interface CopyStats {
  /** Bytes written. */
  dataBytes: number;
  /** Bytes skipped as holes or zeros. */
  skippedBytes: number;
}

/** Copy a device into a sink byte for byte, leaving zero ranges as holes, then set the final size. */
export async function copyDevice(source: BlockDevice, sink: ImageSink, opts: PumpOptions = {}): Promise<CopyStats> {
  const stats = await pumpDataRuns(source, (data, offset) => sink.write(data, offset), { ordered: false, ...opts });
  await sink.truncate(source.size);
  await sink.flush?.();
  return stats;
}
