/** Apple Data Compression (ADC, UDCO images): a small LZ77 with 1-, 2- and 3-byte opcodes. */

export class AdcError extends Error {
  override name = 'AdcError';
}

/** Decode ADC `src` into exactly `outSize` bytes. */
export function adcDecode(src: Uint8Array, outSize: number): Uint8Array {
  const out = new Uint8Array(outSize);
  let s = 0, o = 0;
  while (s < src.length && o < outSize) {
    const b = src[s]!;
    if (b & 0x80) {
      const n = (b & 0x7f) + 1;
      if (s + 1 + n > src.length) throw new AdcError(`literal run of ${n} bytes at ${s} passes the end of the chunk`);
      if (o + n > outSize) throw new AdcError(`literal run at ${s} passes the expected ${outSize} bytes`);
      out.set(src.subarray(s + 1, s + 1 + n), o);
      s += 1 + n;
      o += n;
      continue;
    }
    let len: number, dist: number;
    if (b & 0x40) {
      if (s + 3 > src.length) throw new AdcError(`truncated 3-byte code at ${s}`);
      len = (b & 0x3f) + 4;
      dist = ((src[s + 1]! << 8) | src[s + 2]!) + 1;
      s += 3;
    } else {
      if (s + 2 > src.length) throw new AdcError(`truncated 2-byte code at ${s}`);
      len = ((b >> 2) & 0x0f) + 3;
      dist = (((b & 3) << 8) | src[s + 1]!) + 1;
      s += 2;
    }
    if (dist > o) throw new AdcError(`match distance ${dist} before the start of the output (at ${o})`);
    if (o + len > outSize) throw new AdcError(`match at ${s} passes the expected ${outSize} bytes`);
    if (dist >= len) out.copyWithin(o, o - dist, o - dist + len);
    else for (let i = 0; i < len; i++) out[o + i] = out[o + i - dist]!;
    o += len;
  }
  if (o !== outSize) throw new AdcError(`chunk decoded to ${o} bytes, expected ${outSize}`);
  if (s < src.length) throw new AdcError(`chunk decodes past the expected ${outSize} bytes`);
  return out;
}
