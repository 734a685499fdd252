/**
 * The Node entry: zlib through node:zlib. Its asynchronous calls run on libuv's thread pool,
 * so several chunks (de)compress at once on several cores, with no copying between threads.
 * Importing this module installs the codecs; `@diskit/dmg` does so by itself under Node.
 */
import { inflate, deflate } from 'node:zlib';
import { availableParallelism } from 'node:os';
import { fastCrc32 } from '@diskit/core/node';
import { setCodecs, CodecError, pureCodecs, type Codecs } from './codecs.js';

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
};

/** Install node:zlib (done on import); pass `pureCodecs` to go back to the isomorphic path. */
export function useNodeCodecs(on = true): void {
  setCodecs(on ? nodeCodecs : pureCodecs);
}

useNodeCodecs();
