/**
 * LZMA chunks (ULMO, 0x80000008): each is one complete .xz stream. Decoded by xz-decompress
 * (xz-embedded compiled to WebAssembly: Node and browsers, no native code, checks the stream's
 * CRC32/CRC64), its output taken in pieces and refused as soon as it passes the chunk's size.
 * Self-contained (it uses only its arguments) because the Node codec workers run its source too.
 */
export async function unxzWith(
  XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>,
  data: Uint8Array,
  outSize: number,
): Promise<Uint8Array> {
  const input = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(data);
      c.close();
    },
  });
  const out = new Uint8Array(outSize);
  let n = 0;
  const reader = new XzReadableStream(input).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > outSize) throw new Error(`xz chunk decodes past its ${outSize} bytes`);
      out.set(value, n);
      n += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    // xz-embedded's return codes (xz.h), for a message a person can read.
    const why: Record<string, string> = { 2: 'unsupported integrity check', 3: 'out of memory', 4: 'dictionary larger than the memory limit', 5: 'not an .xz stream', 6: 'unsupported options or integrity check', 7: 'corrupt data', 8: 'truncated stream' };
    const m = /error code (\d+)/.exec((e as Error).message);
    throw new Error(m && why[m[1]!] ? `xz: ${why[m[1]!]}` : `xz: ${(e as Error).message}`);
  }
  if (n !== outSize) throw new Error(`xz chunk decoded to ${n} bytes, expected ${outSize}`);
  return out;
}
