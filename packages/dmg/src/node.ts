/**
 * The Node entry: zlib through node:zlib. Its asynchronous calls run on libuv's thread pool,
 * so several chunks (de)compress at once on several cores, with no copying between threads.
 * Importing this module installs the codecs; `@diskit/dmg` does so by itself under Node.
 */
import { inflate, deflate, deflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fastCrc32 } from '@diskit/core/node';
import { setCodecs, CodecError, pureCodecs, packChunkSync, bzip2Encode, type Codecs, type PackedChunk, type PackMethod } from './codecs.js';

export { dmgDriver, formats, filesystems } from './index.js';

function threads(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(availableParallelism(), pool));
}

export const nodeCodecs: Codecs = {
  name: 'node:zlib',
  concurrency: threads(),
  crc32: fastCrc32,
  inflate(data, outSize) {
    return new Promise((resolve, reject) => {
      // maxOutputLength bounds memory: a chunk inflating past its size is refused, never buffered.
      // One output buffer of the chunk's size (+1 to detect overruns): one thread-pool pass, not 64 KiB steps.
      inflate(data, { maxOutputLength: outSize + 1, chunkSize: Math.max(64, outSize + 1) }, (err, out) => {
        if (err) {
          reject(new CodecError((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? `zlib chunk inflates past its ${outSize} bytes` : `zlib: ${err.message}`));
        } else if (out.length !== outSize) {
          reject(new CodecError(`zlib chunk inflated to ${out.length} bytes, expected ${outSize}`));
        } else resolve(new Uint8Array(out.buffer, out.byteOffset, out.length));
      });
    });
  },
  deflate(data, level) {
    return new Promise((resolve, reject) => {
      deflate(data, { level, chunkSize: Math.max(64, data.length + (data.length >> 3) + 1024) }, (err, out) => (err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.length))));
    });
  },
  pack(data, method, level, threads) {
    if (threads <= 0 || typeof zlibCrc32 !== 'function') {
      const compress = method === 'bzip2' ? (d: Uint8Array) => bzip2Encode(d, level) : (d: Uint8Array) => deflateSync(d, { level });
      return { data, ...packChunkSync(data, compress, (d) => deflateSync(d, { level: 1 }), (d) => fastCrc32(d)) };
    }
    let pool = pools.get(threads);
    if (!pool) pools.set(threads, (pool = new PackPool(threads)));
    return pool.pack(data, method, level);
  },
};

/**
 * Worker threads that pack chunks (CRC32, sample test, deflate or bzip2) with synchronous calls.
 * Measured on a 2-core VM: node:zlib's one-shot async deflate spends ~0.1 ms of main-thread time
 * per call setting up a stream, and the main thread became the bottleneck (2 threads: 1.1x one);
 * here the main thread only posts buffers, which move to the worker and back without copying.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const pack = (${packChunkSync.toString()});
const bzip2Encode = (${bzip2Encode.toString()});
parentPort.on('message', ({ id, buf, offset, length, method, level }) => {
  try {
    // One output buffer a little larger than the input: one allocation, no 16 KiB pieces to join
    // (measured: RSS growth over 256 MiB of chunks 42 MiB -> 17 MiB).
    const deflate = (d, l) => zlib.deflateSync(d, { level: l, chunkSize: Math.max(1024, d.length + (d.length >> 3) + 1024) });
    const compress = method === 'bzip2' ? (d) => bzip2Encode(d, level) : (d) => deflate(d, level);
    const r = pack(new Uint8Array(buf, offset, length), compress, (d) => deflate(d, 1), (d) => zlib.crc32(d));
    let z = r.z;
    if (z && z.byteOffset !== 0) z = new Uint8Array(z);
    parentPort.postMessage({ id, buf, crc: r.crc, z: z && z.buffer, zLength: z && z.length }, z ? [buf, z.buffer] : [buf]);
  } catch (e) {
    parentPort.postMessage({ id, buf, error: String((e && e.message) || e) }, [buf]);
  }
});`;

interface Job {
  resolve(r: PackedChunk): void;
  reject(e: Error): void;
  offset: number;
  length: number;
}

class PackPool {
  private readonly workers: { w: Worker; jobs: Map<number, Job> }[] = [];
  private nextId = 0;
  private turn = 0;
  constructor(readonly size: number) {
    this.size = Math.max(1, Math.floor(size) || 1);
  }

  pack(data: Uint8Array, method: PackMethod, level: number): Promise<PackedChunk> {
    if (this.workers.length < this.size) this.workers.push(this.spawn());
    // Round robin: chunks are all about the same size.
    const slot = this.workers[this.turn++ % this.workers.length]!;
    const id = this.nextId++;
    // Large buffers move to the worker and back (pack() takes over `data`'s memory); small ones are copied.
    const whole = data.byteOffset === 0 && data.buffer instanceof ArrayBuffer && data.buffer.byteLength >= 64 << 10;
    const buf = whole ? (data.buffer as ArrayBuffer) : data.slice().buffer;
    return new Promise<PackedChunk>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject, offset: whole ? data.byteOffset : 0, length: data.length });
      if (slot.jobs.size === 1) slot.w.ref();
      slot.w.postMessage({ id, buf, offset: whole ? data.byteOffset : 0, length: data.length, method, level }, [buf]);
    });
  }

  private spawn() {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    const slot = { w, jobs: new Map<number, Job>() };
    w.on('message', (m: { id: number; buf: ArrayBuffer; crc: number; z?: ArrayBuffer; zLength?: number; error?: string }) => {
      const job = slot.jobs.get(m.id);
      if (!job) return;
      slot.jobs.delete(m.id);
      // An idle pool must not keep the process alive.
      if (slot.jobs.size === 0) w.unref();
      const data = new Uint8Array(m.buf, job.offset, job.length);
      if (m.error) job.reject(new CodecError(`zlib: ${m.error}`));
      else job.resolve(m.z ? { data, crc: m.crc, z: new Uint8Array(m.z, 0, m.zLength) } : { data, crc: m.crc });
    });
    w.on('error', (e) => {
      for (const j of slot.jobs.values()) j.reject(e);
      slot.jobs.clear();
      this.workers.splice(this.workers.indexOf(slot), 1);
    });
    w.unref();
    return slot;
  }
}

const pools = new Map<number, PackPool>();

/** Install node:zlib (done on import); pass `pureCodecs` to go back to the isomorphic path. */
export function useNodeCodecs(on = true): void {
  setCodecs(on ? nodeCodecs : pureCodecs);
}

useNodeCodecs();
