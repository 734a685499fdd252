/** What the banded writers (sparse image, sparse bundle) share: the band-size option and the band pump. */
import { UsageError, blockPieces, isZero, pumpDataRuns, type BlockDevice, type CreateOptions } from '@diskit/core';

/**
 * A `-o band-size=` value: bytes, or with a k/m/g suffix (binary units), a multiple of 512.
 * `max` bounds it (a band is held in memory whole by no one, but a band index entry is 32-bit).
 */
export function parseBandSize(v: string, format: string, max: number): number {
  const m = /^(\d+)([kmg]?)i?b?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()) : NaN;
  if (!Number.isSafeInteger(n) || n < 512 || n % 512 !== 0 || n > max) {
    throw new UsageError(`${format}: band-size must be a multiple of 512 bytes from 512 to ${max} (k/m/g suffixes allowed), got "${v}"`);
  }
  return n;
}

/** A banded format's `-o` options: only band-size, `fallback` when absent. */
export function parseBandOptions(o: Record<string, string> = {}, format: string, fallback: number, max: number): { bandSize: number } {
  let bandSize = fallback;
  for (const [k, v] of Object.entries(o)) {
    if (k === 'band-size') bandSize = parseBandSize(v, format, max);
    else throw new UsageError(`${format}: unknown option "${k}" (band-size)`);
  }
  return { bandSize };
}

/** Pump `source`'s data runs into bands: `write` gets each non-zero piece, in disk order, with its band and offset in it. */
export async function pumpBands(
  source: BlockDevice,
  bandSize: number,
  write: (band: number, inBand: number, piece: Uint8Array) => Promise<void>,
  onProgress?: CreateOptions['onProgress'],
): Promise<void> {
  await pumpDataRuns(
    source,
    (data, offset) => {
      const writes: Promise<void>[] = [];
      for (const { block, inBlock, at, length } of blockPieces(offset, data.length, bandSize)) {
        const piece = data.subarray(at, at + length);
        // The pump finds zeros at 64 KiB; a smaller band of zeros must not be allocated either.
        if (!isZero(piece)) writes.push(write(block, inBlock, piece));
      }
      return Promise.all(writes).then(() => {});
    },
    { onProgress },
  );
}
