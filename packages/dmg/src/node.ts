/**
 * The Node entry. zlib chunks inflate through node:zlib on libuv's thread pool; chunks are packed
 * (written) and bzip2 chunks unpacked (read) on worker threads. Either way several chunks are
 * worked on at once on several cores, with no copying between threads.
 * Importing this module installs the codecs; `@diskit/dmg` does so by itself under Node.
 */
import { inflate, deflate, deflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { createCipheriv } from 'node:crypto';
import { applyChunkFixes, chunkFixes, setRunDecryptor, setSyncAesEncrypt } from './crypto.js';
import { makeChunkIvs } from './chunk-ivs.js';
import { fastCrc32 } from '@diskit/core/node';
import { setCodecs, CodecError, pureCodecs, packChunkSync, bzip2Encode, bunzip2, unxz, type Codecs, type PackedChunk, type PackMethod } from './codecs.js';
import { unxzWith } from './xz.js';
import { makeBunzip2 } from './bzip2.js';

export { dmgDriver, formats, filesystems } from './index.js';

let threadCount = 0;
function threads(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return (threadCount ||= Math.max(1, Math.min(availableParallelism(), pool)));
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
    return poolOf(threads).pack(data, method, level);
  },
  bunzip2(data, outSize) {
    return typeof zlibCrc32 === 'function' ? poolOf(threads()).bunzip2(data, outSize) : bunzip2(data, outSize);
  },
  unxz(data, outSize) {
    return XZ_PATH && typeof zlibCrc32 === 'function' ? poolOf(threads()).unpack('unxz', data, outSize) : unxz(data, outSize);
  },
};

/**
 * Worker threads that pack chunks (CRC32, sample test, deflate or bzip2) and unpack bzip2 chunks
 * with synchronous calls.
 * Measured on a 2-core VM: node:zlib's one-shot async deflate spends ~0.1 ms of main-thread time
 * per call setting up a stream, and the main thread became the bottleneck (2 threads: 1.1x one);
 * here the main thread only posts buffers, which move to the worker and back without copying.
 */
/**
 * Where the xz decoder's module is, for the workers to load it (the CLI bundle depends on it too);
 * unresolvable, LZMA chunks decode on the main thread.
 */
const XZ_PATH: string | undefined = (() => {
  try {
    return createRequire(import.meta.url).resolve('xz-decompress');
  } catch {
    return undefined;
  }
})();

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const { createDecipheriv } = require('node:crypto');
const ChunkIvs = (${makeChunkIvs.toString()})(Error);
const chunkFixes = (${chunkFixes.toString()});
const applyChunkFixes = (${applyChunkFixes.toString()});
let ivsOf = { hex: '', ivs: null };
const pack = (${packChunkSync.toString()});
const bzip2Encode = (${bzip2Encode.toString()});
const bunzip2 = (${makeBunzip2.toString()})(Error);
const unxzWith = (${unxzWith.toString()});
const xzPath = ${JSON.stringify(XZ_PATH ?? null)};
let Xz;
parentPort.on('message', async ({ op, buf, offset, length, method, level, outSize, key, hmacKey, first, chunkSize }) => {
  try {
    if (op === 'decrypt') {
      const data = new Uint8Array(buf, offset, length);
      const hex = Buffer.from(hmacKey).toString('hex');
      if (ivsOf.hex !== hex) ivsOf = { hex, ivs: new ChunkIvs(hmacKey) };
      const fixes = chunkFixes(ivsOf.ivs, data, first, chunkSize);
      // Decrypted in place, 64 KiB at a time (the cipher keeps the chaining block): small outputs
      // stay in cache and in malloc's heap, where one 1 MiB output a run meant fresh pages.
      const d = createDecipheriv('aes-' + key.length * 8 + '-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
      for (let at = 0; at < length; at += 65536) data.set(d.update(data.subarray(at, at + 65536)), at);
      d.final();
      applyChunkFixes(data, fixes, chunkSize);
      parentPort.postMessage({ buf }, [buf]);
      return;
    }
    if (op === 'bunzip2' || op === 'unxz') {
      const data = new Uint8Array(buf, offset, length);
      const out = op === 'bunzip2' ? bunzip2(data, outSize) : await unxzWith(Xz ??= require(xzPath).XzReadableStream, data, outSize);
      parentPort.postMessage({ buf, out: out.buffer }, [buf, out.buffer]);
      return;
    }
    // One output buffer a little larger than the input: one allocation, no 16 KiB pieces to join
    // (measured: RSS growth over 256 MiB of chunks 42 MiB -> 17 MiB).
    const deflate = (d, l) => zlib.deflateSync(d, { level: l, chunkSize: Math.max(1024, d.length + (d.length >> 3) + 1024) });
    const compress = method === 'bzip2' ? (d) => bzip2Encode(d, level) : (d) => deflate(d, level);
    const r = pack(new Uint8Array(buf, offset, length), compress, (d) => deflate(d, 1), (d) => zlib.crc32(d));
    let z = r.z;
    if (z && z.byteOffset !== 0) z = new Uint8Array(z);
    parentPort.postMessage({ buf, crc: r.crc, z: z && z.buffer, zLength: z && z.length }, z ? [buf, z.buffer] : [buf]);
  } catch (e) {
    parentPort.postMessage({ buf, error: String((e && e.message) || e) }, [buf]);
  }
});`;

type Reply = { buf: ArrayBuffer; crc?: number; z?: ArrayBuffer; zLength?: number; out?: ArrayBuffer; error?: string };

interface Job {
  message: { op: 'pack' | 'bunzip2' | 'unxz' | 'decrypt'; buf: ArrayBuffer } & Record<string, unknown>;
  settle(reply: Reply): void;
  reject(e: Error): void;
}

interface Slot {
  w: Worker;
  job: Job | null;
}

/**
 * One chunk per worker at a time, from one queue in the caller's order: the oldest chunk (the one
 * the writer waits for) is always being worked on. (Measured: queueing chunks per worker left one
 * worker idle 24% of the time behind the other's backlog; 1.6x → see bench/dmg.)
 */
export class CodecPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  constructor(readonly size: number) {
    this.size = Math.max(1, Math.floor(size) || 1);
  }

  pack(data: Uint8Array, method: PackMethod, level: number): Promise<PackedChunk> {
    const { buf, offset, length } = handOver(data);
    return new Promise<PackedChunk>((resolve, reject) => {
      this.queue.push({
        message: { op: 'pack', buf, offset, length, method, level },
        settle: (m) => {
          const back = new Uint8Array(m.buf, offset, length);
          if (m.error) reject(new CodecError(`pack: ${m.error}`));
          else resolve(m.z ? { data: back, crc: m.crc!, z: new Uint8Array(m.z, 0, m.zLength) } : { data: back, crc: m.crc! });
        },
        reject,
      });
      this.dispatch();
    });
  }

  /** Decode a bzip2 chunk to exactly `outSize` bytes on a worker (takes over `data`'s memory). */
  bunzip2(data: Uint8Array, outSize: number): Promise<Uint8Array> {
    return this.unpack('bunzip2', data, outSize);
  }

  /** Decode a bzip2 or xz chunk to exactly `outSize` bytes on a worker (takes over `data`'s memory). */
  unpack(op: 'bunzip2' | 'unxz', data: Uint8Array, outSize: number): Promise<Uint8Array> {
    const { buf, offset, length } = handOver(data);
    return new Promise<Uint8Array>((resolve, reject) => {
      this.queue.push({
        message: { op, buf, offset, length, outSize },
        settle: (m) => (m.error ? reject(new CodecError(m.error)) : resolve(new Uint8Array(m.out!))),
        reject,
      });
      this.dispatch();
    });
  }

  /**
   * AES-CBC-decrypt a run of whole encrypted-DMG chunks on a worker (node:crypto, then each chunk's
   * IV): the main thread only reads and writes. Takes over `data`'s memory and returns the
   * plaintext in it.
   */
  decrypt(data: Uint8Array, key: Uint8Array, hmacKey: Uint8Array, first: number, chunkSize: number): Promise<Uint8Array> {
    const { buf, offset, length } = handOver(data);
    return new Promise<Uint8Array>((resolve, reject) => {
      this.queue.push({
        message: { op: 'decrypt', buf, offset, length, key, hmacKey, first, chunkSize },
        settle: (m) => (m.error ? reject(new CodecError(m.error)) : resolve(new Uint8Array(m.buf, offset, length))),
        reject,
      });
      this.dispatch();
    });
  }

  private dispatch() {
    while (this.queue.length) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        this.slots.push((slot = this.spawn()));
      }
      const job = (slot.job = this.queue.shift()!);
      slot.w.ref();
      slot.w.postMessage(job.message, [job.message.buf]);
    }
  }

  private spawn(): Slot {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { w, job: null };
    w.on('message', (m: Reply) => {
      const job = slot.job;
      if (!job) return;
      slot.job = null;
      // An idle pool must not keep the process alive.
      w.unref();
      job.settle(m);
      this.dispatch();
    });
    // A worker that dies (an error, or an exit such as running out of memory) fails its chunk
    // rather than leaving the writer waiting for an answer that will not come.
    const lost = (e: Error) => {
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      const job = slot.job;
      slot.job = null;
      job?.reject(e);
      this.dispatch();
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new CodecError(`codec worker exited (code ${code})`)));
    w.unref();
    return slot;
  }
}

/** Large buffers move to a worker and back (the caller's view is detached); small ones are copied. */
function handOver(data: Uint8Array): { buf: ArrayBuffer; offset: number; length: number } {
  const whole = data.buffer instanceof ArrayBuffer && data.buffer.byteLength >= 64 << 10 && data.byteOffset === 0;
  return whole ? { buf: data.buffer as ArrayBuffer, offset: 0, length: data.length } : { buf: data.slice().buffer, offset: 0, length: data.length };
}

const pools = new Map<number, CodecPool>();
function poolOf(threads: number): CodecPool {
  let pool = pools.get(threads);
  if (!pool) pools.set(threads, (pool = new CodecPool(threads)));
  return pool;
}

/** Install node:zlib (done on import); pass `pureCodecs` to go back to the isomorphic path. */
export function useNodeCodecs(on = true): void {
  setCodecs(on ? nodeCodecs : pureCodecs);
}

useNodeCodecs();

// Writing encrypted images: node:crypto's AES-CBC per 512-byte chunk (see setSyncAesEncrypt).
setSyncAesEncrypt((key, iv, data) => {
  const c = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv).setAutoPadding(false);
  const a = c.update(data), b = c.final();
  return b.length ? Buffer.concat([a, b]) : a;
});

// Reading encrypted images: runs of chunks decrypted on the codec workers (see CodecPool.decrypt).
setRunDecryptor((key, hmacKey, data, first, chunkSize) => poolOf(threads()).decrypt(data, key, hmacKey, first, chunkSize));
