// raw → raw on the 1 GiB half-data image: diskit beside cp --sparse=always and qemu-img convert.
export default async function (ctx) {
  const src = ctx.halfImage();
  const out = `${ctx.tmp}/raw-out.img`;
  const before = () => ctx.rm(out);
  const rows = [
    ctx.measure('diskit convert -O raw', ['node', ctx.diskit, 'convert', '-O', 'raw', src, out], { before }),
    ctx.measure('cp --sparse=always', ['cp', '--sparse=always', src, out], { before }),
  ];
  if (ctx.hasTool('qemu-img')) rows.push(ctx.measure('qemu-img convert -O raw', ['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', src, out], { before }));
  ctx.rm(out);
  ctx.report('raw → raw, 1 GiB half data', rows, {
    baseline: 'cp --sparse=always',
    targets: { 'diskit convert -O raw / cp --sparse=always': 1.0, 'diskit convert -O raw / qemu-img convert -O raw': 1.2 },
  });
}
