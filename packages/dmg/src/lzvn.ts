/** LZVN, Apple's byte-oriented LZ77: `bvxn` blocks inside LZFSE streams and APFS's decmpfs type 7/8 files. */

/** An LZFSE or LZVN stream that does not decode to the size it should. */
export class LzfseError extends Error {
  override name = 'LzfseError';
}

/** LZVN: a byte-oriented LZ77; decodes `src[at, end)` into out from outPos up to outEnd. */
export function lzvnDecode(src: Uint8Array, at: number, end: number, out: Uint8Array, outPos: number, outEnd: number): number {
  let s = at, o = outPos, D = 0;
  const start = 0; // matches may reach back into earlier blocks of the same output
  const need = (n: number) => {
    if (s + n > end) throw new LzfseError('LZVN stream truncated');
  };
  for (;;) {
    need(1);
    const opc = src[s]!;
    let L = 0, M = 0;
    const low3 = opc & 7;
    if (opc === 6) {
      // end of stream: opcode plus 7 bytes of padding
      return o;
    } else if (opc === 14 || opc === 22) {
      s += 1;
      continue;
    } else if (opc >= 0xf0) {
      if (opc === 0xf0) {
        need(2);
        M = src[s + 1]! + 16;
        s += 2;
      } else {
        M = opc & 15;
        s += 1;
      }
    } else if (opc >= 0xe0) {
      if (opc === 0xe0) {
        need(2);
        L = src[s + 1]! + 16;
        s += 2;
      } else {
        L = opc & 15;
        s += 1;
      }
    } else if ((opc >= 0x70 && opc < 0x80) || (opc >= 0xd0 && opc < 0xe0) || (opc < 0x40 && low3 === 6)) {
      throw new LzfseError(`undefined LZVN opcode 0x${opc.toString(16)}`);
    } else if (opc >= 0xa0 && opc < 0xc0) {
      // medium distance: 101LLMMM DDDDDDMM DDDDDDDD
      need(3);
      L = (opc >> 3) & 3;
      const w = src[s + 1]! | (src[s + 2]! << 8);
      M = (((opc & 7) << 2) | (w & 3)) + 3;
      D = w >>> 2;
      s += 3;
    } else if (low3 === 7) {
      need(3);
      L = opc >> 6;
      M = ((opc >> 3) & 7) + 3;
      D = src[s + 1]! | (src[s + 2]! << 8);
      s += 3;
    } else if (low3 === 6) {
      L = opc >> 6;
      M = ((opc >> 3) & 7) + 3;
      s += 1;
    } else {
      need(2);
      L = opc >> 6;
      M = ((opc >> 3) & 7) + 3;
      D = ((opc & 7) << 8) | src[s + 1]!;
      s += 2;
    }
    if (L) {
      need(L);
      if (o + L > outEnd) throw new LzfseError('LZVN literal past the expected output size');
      out.set(src.subarray(s, s + L), o);
      s += L;
      o += L;
    }
    if (M) {
      if (D === 0 || D > o - start) throw new LzfseError(`bad LZVN match distance ${D}`);
      if (o + M > outEnd) throw new LzfseError('LZVN match past the expected output size');
      if (D >= M) out.copyWithin(o, o - D, o - D + M);
      else for (let i = 0; i < M; i++) out[o + i] = out[o + i - D]!;
      o += M;
    }
  }
}
