/** Whole-word zero checks: the hot loop of every converter. */

// Node's Buffer.compare is memcmp: about twice the JS word loop (measured: 512 MiB of zeros in
// 64 KiB granules, ~21 ms against ~47 ms). Feature-detected, so this module stays isomorphic.
const nativeCompare = (globalThis as { Buffer?: { compare(a: Uint8Array, b: Uint8Array): number } }).Buffer?.compare;
const ZEROS = new Uint8Array(64 << 10);

/** True when every byte of `buf` is zero. */
export function isZero(buf: Uint8Array): boolean {
  if (nativeCompare && buf.length >= 256) {
    for (let off = 0; off < buf.length; off += ZEROS.length) {
      const part = buf.subarray(off, Math.min(off + ZEROS.length, buf.length));
      if (nativeCompare(part, part.length === ZEROS.length ? ZEROS : ZEROS.subarray(0, part.length)) !== 0) return false;
    }
    return true;
  }
  return isZeroJs(buf);
}

/** The portable whole-word loop (exported for tests and browsers). */
export function isZeroJs(buf: Uint8Array): boolean {
  let i = 0;
  const n = buf.length;
  // Head bytes until 8-byte alignment, then 32-bit words (fast in V8), then the tail.
  const mis = (8 - (buf.byteOffset & 7)) & 7;
  const head = Math.min(mis, n);
  for (; i < head; i++) if (buf[i] !== 0) return false;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    let j = 0;
    const w8 = words & ~7;
    for (; j < w8; j += 8) {
      if ((w[j]! | w[j + 1]! | w[j + 2]! | w[j + 3]! | w[j + 4]! | w[j + 5]! | w[j + 6]! | w[j + 7]!) !== 0) return false;
    }
    for (; j < words; j++) if (w[j] !== 0) return false;
    i += words << 2;
  }
  for (; i < n; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Split `buf` (which sits at device offset `base`) into runs of data and zeros at `granularity`
 * bytes (a power of two), calling `onData` for each maximal non-zero run.
 */
export function forEachDataRun(
  buf: Uint8Array,
  granularity: number,
  onData: (start: number, end: number) => void,
): void {
  let runStart = -1;
  // A granule whose first 8 bytes are not all zero is data: one word test instead of a full check
  // (on data chunks the common case; measured ~7 ms of a 1 GiB raw→raw copy before).
  const words = buf.byteOffset % 4 === 0 && granularity % 8 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : null;
  for (let pos = 0; pos < buf.length; pos += granularity) {
    const end = Math.min(pos + granularity, buf.length);
    const zero = words && end - pos >= 8 && (words[pos >>> 2]! | words[(pos >>> 2) + 1]!) !== 0 ? false : isZero(buf.subarray(pos, end));
    if (!zero && runStart < 0) runStart = pos;
    else if (zero && runStart >= 0) {
      onData(runStart, pos);
      runStart = -1;
    }
  }
  if (runStart >= 0) onData(runStart, buf.length);
}
