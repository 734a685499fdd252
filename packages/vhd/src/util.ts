import { UsageError, blockPieces, type ImageSink } from '@diskit/core';

/** "2M", "512K", "1MiB", "4096" → bytes. */
export function parseSize(key: string, v: string): number {
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`-o ${key}=${v}: expected a size like 2M, 512K or 4096`);
  const mult = { '': 1, k: 1024, m: 1 << 20, g: 1 << 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new UsageError(`-o ${key}=${v}: too large`);
  return n;
}

export function parseBool(key: string, v: string): boolean {
  if (/^(on|yes|true|1)$/i.test(v)) return true;
  if (/^(off|no|false|0)$/i.test(v)) return false;
  throw new UsageError(`-o ${key}=${v}: expected on or off`);
}

export function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}

export const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Validate `-o` keys against a list; unknown ones are a UsageError. */
export function checkKeys(fmt: string, options: Record<string, string>, known: string[]): void {
  const bad = Object.keys(options).filter((k) => !known.includes(k));
  if (bad.length) throw new UsageError(`${fmt}: unknown option(s) ${bad.join(', ')} (known: ${known.join(', ')})`);
}

/** UTF-16 text (NUL-terminated or not) from bytes. */
export function utf16(b: Uint8Array, littleEndian: boolean): string {
  let s = '';
  for (let i = 0; i + 1 < b.length; i += 2) {
    const c = littleEndian ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

export function encodeUtf16(s: string, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i * 2 + (littleEndian ? 0 : 1)] = c & 0xff;
    out[i * 2 + (littleEndian ? 1 : 0)] = c >> 8;
  }
  return out;
}

/** The file name part of a Windows or POSIX path. */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}

/** A Windows relative path (".\\a\\b.vhd") as a '/'-separated relative path. */
export function windowsRelative(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A `pumpDataRuns` consumer for dynamic images: data arrives in device order, and the first data
 * of each block calls `place(block, writes)` for the file offset where the block's bytes start
 * (it records the block in its table and may push writes of its own, e.g. a sector bitmap).
 * The writes of one call overlap.
 */
export function blocksInArrivalOrder(
  sink: ImageSink, blockSize: number, place: (block: number, writes: Promise<void>[]) => number,
): (data: Uint8Array, offset: number) => Promise<void> {
  let curBlk = -1;
  let curBase = 0;
  return (data, offset) => {
    const writes: Promise<void>[] = [];
    let pos = 0;
    while (pos < data.length) {
      const voff = offset + pos;
      const blk = Math.floor(voff / blockSize);
      const n = Math.min((blk + 1) * blockSize - voff, data.length - pos);
      if (blk !== curBlk) {
        curBlk = blk;
        curBase = place(blk, writes) - blk * blockSize;
      }
      writes.push(sink.write(data.subarray(pos, pos + n), curBase + voff));
      pos += n;
    }
    return Promise.all(writes).then(() => {});
  };
}

/** One block's part of a read: which block, where in it, where on the disk, and the bytes to fill. */
export interface ReadPiece {
  block: number;
  inBlock: number;
  offset: number;
  into: Uint8Array;
}

/**
 * Fill `into` block by block: `readPiece` pushes the reads for one block's part onto `ops`; they run
 * concurrently, into disjoint parts of `into`. On an error the reads already started are awaited quietly.
 */
export async function readByBlocks(
  into: Uint8Array, offset: number, blockSize: number, readPiece: (p: ReadPiece, ops: Promise<void>[]) => Promise<void> | void,
): Promise<void> {
  const ops: Promise<void>[] = [];
  try {
    for (const { block, inBlock, at, length } of blockPieces(offset, into.length, blockSize)) {
      const r = readPiece({ block, inBlock, offset: offset + at, into: into.subarray(at, at + length) }, ops);
      if (r) await r;
    }
  } catch (e) {
    for (const op of ops) op.catch(() => {});
    throw e;
  }
  await Promise.all(ops);
}
