// CRC32/CRC32C throughput of @diskit/core's slicing-by-8 tables beside Node's native zlib.crc32, 256 MiB each.
export default async function (ctx) {
  const core = `${ctx.root}/packages/core/dist/index.js`;
  const script = (expr) => `import(${JSON.stringify(core)}).then(async (c) => { const z = await import('node:zlib'); const b = new Uint8Array(1 << 20).map((_, i) => i * 31); let x = 0; for (let i = 0; i < 256; i++) x = ${expr}; if (x === -1) console.log(x); })`;
  const rows = [
    ctx.measure('diskit crc32 (JS tables)', ['node', '-e', script('c.crc32(b, x)')]),
    ctx.measure('node zlib.crc32 (native)', ['node', '-e', script('z.crc32(b, x)')]),
    ctx.measure('diskit crc32c (JS tables)', ['node', '-e', script('c.crc32c(b, x)')]),
  ];
  ctx.report('CRC over 256 MiB (includes Node start-up)', rows, { baseline: 'node zlib.crc32 (native)' });
}
