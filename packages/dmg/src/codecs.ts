/**
 * The one codec seam: how chunks are (de)compressed. The default is pure JS (fflate for zlib,
 * our own ADC, LZFSE and bzip2); the Node entry swaps zlib for node:zlib, which
 * also runs chunks on libuv's thread pool in parallel.
 */
import { unzlibSync, zlibSync } from 'fflate';
import { crc32 } from '@diskit/core';
import { adcDecode } from './adc.js';
import { lzfseDecode } from './lzfse.js';
import { bunzip2 } from './bzip2.js';
import { bzip2Encode } from './bzip2-encode.js';
import { unxzWith } from './xz.js';

type XzStream = new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
let xzLoad: Promise<XzStream> | undefined;
/**
 * xz-decompress, loaded when the first LZMA chunk is met (its class extends ReadableStream at load).
 * A UMD module: the class is a named export under bundlers, `default`'s under Node.
 */
function xzStream(): Promise<XzStream> {
  type Mod = { XzReadableStream?: XzStream; default?: { XzReadableStream: XzStream } };
  return (xzLoad ??= import('xz-decompress').then((m: Mod) => m.XzReadableStream ?? m.default!.XzReadableStream));
}

/** Decode one .xz stream (an LZMA chunk) to exactly `outSize` bytes, or throw. */
export async function unxz(data: Uint8Array, outSize: number): Promise<Uint8Array> {
  return unxzWith(await xzStream(), data, outSize);
}

export interface Codecs {
  /** Inflate a zlib stream to exactly `outSize` bytes (or throw). */
  inflate(data: Uint8Array, outSize: number): Uint8Array | Promise<Uint8Array>;
  /** Deflate to a zlib stream at `level`. */
  deflate(data: Uint8Array, level: number): Uint8Array | Promise<Uint8Array>;
  /** How many compress jobs to keep in flight (1 for synchronous codecs). */
  concurrency: number;
  /** CRC32 of the chunk checksums (Node: native zlib.crc32, ~4x the JS tables — see bench/core). */
  crc32(data: Uint8Array, crc?: number): number;
  /**
   * A chunk's work for the writer: the CRC32 of `data` and its zlib (UDZO) or bzip2 (UDBZ) stream
   * when that is smaller. `threads` is how many chunks may be packed at once. May take over
   * `data`'s memory (Node hands it to a worker thread and back): use the returned `data`.
   */
  pack(data: Uint8Array, method: PackMethod, level: number, threads: number): PackedChunk | Promise<PackedChunk>;
  /** Decode a bzip2 chunk to exactly `outSize` bytes (or throw). May take over `data`'s memory. */
  bunzip2(data: Uint8Array, outSize: number): Uint8Array | Promise<Uint8Array>;
  /** Decode an LZMA (.xz) chunk to exactly `outSize` bytes (or throw). May take over `data`'s memory. */
  unxz(data: Uint8Array, outSize: number): Promise<Uint8Array>;
  name: string;
}

export type PackMethod = 'zlib' | 'bzip2';

export interface PackedChunk {
  data: Uint8Array;
  crc: number;
  /** The compressed stream, when it is smaller than the data. */
  z?: Uint8Array;
}

/**
 * Pack one chunk with the given compressor and CRC32. Self-contained (it uses nothing but its
 * arguments), because the Node worker threads run its source text too.
 *
 * Four 4 KiB samples are deflated (level 1) first: a chunk where none shrinks by 5% (compressed
 * or encrypted data) is stored without compressing it all, which would only have grown it (the
 * samples cost under 2% of a full deflate and save ~90% on such data).
 */
export function packChunkSync(
  data: Uint8Array,
  compress: (d: Uint8Array) => Uint8Array,
  probe: (d: Uint8Array) => Uint8Array,
  crc32: (d: Uint8Array) => number,
): { crc: number; z?: Uint8Array } {
  const crc = crc32(data);
  const sample = 4096;
  if (data.length >= 16 * sample) {
    const step = Math.floor(data.length / 4);
    let worth = false;
    for (let k = 0; k < 4 && !worth; k++) {
      const s = data.subarray(k * step, k * step + sample);
      worth = probe(s).length < s.length * 0.95;
    }
    if (!worth) return { crc };
  }
  const z = compress(data);
  return z.length < data.length ? { crc, z } : { crc };
}

export class CodecError extends Error {
  override name = 'CodecError';
}

export const pureCodecs: Codecs = {
  name: 'fflate',
  concurrency: 1,
  crc32,
  inflate(data, outSize) {
    // One spare byte: fflate does not grow a given buffer, so a full spare byte means the
    // stream inflates past the chunk's size (a bomb or a lying table) without using more memory.
    const out = new Uint8Array(outSize + 1);
    let got: Uint8Array;
    try {
      got = unzlibSync(data, { out });
    } catch (e) {
      throw new CodecError(`zlib: ${(e as Error).message}`);
    }
    // fflate grows its output past a given buffer: a longer result means the chunk inflates past its size.
    if (got.length !== outSize) {
      throw new CodecError(got.length > outSize ? `zlib chunk inflates past its ${outSize} bytes` : `zlib chunk inflated to ${got.length} bytes, expected ${outSize}`);
    }
    return got.subarray(0, outSize);
  },
  deflate(data, level) {
    return zlibSync(data, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
  },
  bunzip2,
  unxz,
  pack(data, method, level) {
    const deflate = (d: Uint8Array, l: number) => pureCodecs.deflate(d, l) as Uint8Array;
    const compress = method === 'bzip2' ? (d: Uint8Array) => bzip2Encode(d, level) : (d: Uint8Array) => deflate(d, level);
    return { data, ...packChunkSync(data, compress, (d) => deflate(d, 1), (d) => crc32(d)) };
  },
};

let active: Codecs = pureCodecs;
let nodeLoad: Promise<unknown> | undefined;
/**
 * Under Node, load the node:zlib codecs once (the specifier is hidden from bundlers, so browser
 * builds never see node: modules). Awaited by open() and create() before the first chunk.
 */
export function codecsReady(): Promise<unknown> {
  if (!nodeLoad) {
    const g = globalThis as { process?: { versions?: { node?: string } } };
    const spec = './node.js';
    nodeLoad = g.process?.versions?.node ? import(/* @vite-ignore */ /* webpackIgnore: true */ spec).catch(() => undefined) : Promise.resolve();
  }
  return nodeLoad;
}
/** Replace the codecs (the Node entry installs node:zlib). */
export function setCodecs(c: Codecs): void {
  nodeLoad ??= Promise.resolve();
  active = c;
}
export function codecs(): Codecs {
  return active;
}

export { adcDecode, lzfseDecode, bunzip2, bzip2Encode };
