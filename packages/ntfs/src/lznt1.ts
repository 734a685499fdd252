/** LZNT1, the codec of NTFS-compressed files: 4 KiB chunks of LZ77 tokens. */
import { CorruptImageError } from '@diskit/core';

const CHUNK = 4096;

/**
 * Decompress `src` (one compression unit's stored bytes) into `dst`, returning the bytes produced;
 * the rest of `dst` is left zero (the unit's tail when the data ended early).
 */
export function lznt1Decompress(src: Uint8Array, dst: Uint8Array, offset: number): number {
  let sp = 0;
  let dp = 0;
  while (sp + 2 <= src.length && dp < dst.length) {
    const h = src[sp]! | (src[sp + 1]! << 8);
    if (h === 0) break;
    const size = (h & 0xfff) + 1;
    const start = sp + 2;
    const end = start + size;
    if (end > src.length) throw new CorruptImageError('LZNT1 chunk', offset + sp, `${size} bytes inside the compression unit`, `${src.length - start}`);
    const chunkStart = dp;
    const chunkEnd = Math.min(dst.length, dp + CHUNK);
    if (!(h & 0x8000)) {
      const n = Math.min(size, chunkEnd - dp);
      dst.set(src.subarray(start, start + n), dp);
      dp += n;
    } else {
      let p = start;
      while (p < end && dp < chunkEnd) {
        const flags = src[p++]!;
        for (let bit = 0; bit < 8 && p < end && dp < chunkEnd; bit++) {
          if (!(flags & (1 << bit))) {
            dst[dp++] = src[p++]!;
            continue;
          }
          if (p + 2 > end) throw new CorruptImageError('LZNT1 token', offset + p, 'two bytes inside the chunk', 'the chunk end');
          const tok = src[p]! | (src[p + 1]! << 8);
          p += 2;
          let lg = 0;
          for (let i = dp - chunkStart - 1; i >= 0x10; i >>= 1) lg++;
          const back = (tok >> (12 - lg)) + 1;
          let len = (tok & (0xfff >> lg)) + 3;
          if (back > dp - chunkStart) throw new CorruptImageError('LZNT1 token', offset + p - 2, `a back-reference within the chunk's ${dp - chunkStart} bytes`, String(back));
          if (dp + len > chunkEnd) len = chunkEnd - dp;
          // Overlapping copies repeat the pattern: byte by byte on purpose.
          for (let s = dp - back, e = dp + len; dp < e; ) dst[dp++] = dst[s++]!;
        }
      }
    }
    // A chunk that produced less than 4 KiB and is not the last one leaves zeros (as Windows does).
    sp = end;
    if (dp < chunkStart + CHUNK && sp + 2 <= src.length && (src[sp]! | (src[sp + 1]! << 8)) !== 0) dp = Math.min(dst.length, chunkStart + CHUNK);
  }
  return dp;
}
