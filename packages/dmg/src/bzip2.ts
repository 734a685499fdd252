/** bzip2 decoding through seek-bzip (pure JS), bounded to the chunk's expected size. */
// @ts-ignore seek-bzip ships no types
import Bunzip from 'seek-bzip';

export class Bzip2Error extends Error {
  override name = 'Bzip2Error';
}

/** Decode a bzip2 stream into exactly `outSize` bytes. */
export function bunzip2(src: Uint8Array, outSize: number): Uint8Array {
  const out = new Uint8Array(outSize);
  let pos = 0;
  // seek-bzip writes through an output-stream object: refuse a byte past the expected size.
  const sink = {
    writeByte(b: number) {
      if (pos >= outSize) throw new Bzip2Error(`bzip2 chunk decompresses past its ${outSize} bytes`);
      out[pos++] = b;
    },
    write(buf: Uint8Array, off = 0, len = buf.length) {
      if (pos + len > outSize) throw new Bzip2Error(`bzip2 chunk decompresses past its ${outSize} bytes`);
      out.set(buf.subarray(off, off + len), pos);
      pos += len;
      return len;
    },
  };
  try {
    (Bunzip as { decode(i: unknown, o: unknown, multi?: boolean): unknown }).decode(src, sink, true);
  } catch (e) {
    if (e instanceof Bzip2Error) throw e;
    throw new Bzip2Error(`bzip2: ${(e as Error)?.message ?? String(e)}`);
  }
  if (pos !== outSize) throw new Bzip2Error(`bzip2 chunk decoded to ${pos} bytes, expected ${outSize}`);
  return out;
}
