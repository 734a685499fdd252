// raw ↔ vhd (fixed, dynamic) and raw ↔ vhdx on the 1 GiB half-data image, beside qemu-img convert.
export default async function (ctx) {
  if (!ctx.hasTool('qemu-img')) {
    console.log('\n## vhd: skipped (qemu-img not installed)');
    return;
  }
  const src = ctx.halfImage();
  const cases = [
    ['raw → vhd dynamic', 'vhd', 'vpc', 'subformat=dynamic'],
    ['raw → vhd fixed', 'vhd', 'vpc', 'subformat=fixed'],
    ['raw → vhdx dynamic', 'vhdx', 'vhdx', 'subformat=dynamic'],
    ['raw → vhdx fixed', 'vhdx', 'vhdx', 'subformat=fixed'],
  ];
  for (const [title, ours, theirs, opts] of cases) {
    const out = `${ctx.tmp}/vhd-bench-out.${ours}`;
    const before = () => ctx.rm(out);
    const rows = [
      ctx.measure(`diskit convert -O ${ours}`, ['node', ctx.diskit, 'convert', '-O', ours, '-o', opts, src, out], { before }),
      ctx.measure(`qemu-img convert -O ${theirs}`, ['qemu-img', 'convert', '-f', 'raw', '-O', theirs, '-o', opts, src, out], { before }),
    ];
    ctx.report(`${title}, 1 GiB half data`, rows, {
      baseline: `qemu-img convert -O ${theirs}`,
      targets: { [`diskit convert -O ${ours} / qemu-img convert -O ${theirs}`]: 0.9 },
    });
    // And back: image → raw, from an image made by qemu-img.
    ctx.rm(out);
    const img = `${ctx.tmp}/vhd-bench-src.${ours}`;
    ctx.rm(img);
    ctx.measure('make source', ['qemu-img', 'convert', '-f', 'raw', '-O', theirs, '-o', opts, src, img]);
    const rawOut = `${ctx.tmp}/vhd-bench-out.raw`;
    const before2 = () => ctx.rm(rawOut);
    const back = [
      ctx.measure('diskit convert -O raw', ['node', ctx.diskit, 'convert', '-O', 'raw', img, rawOut], { before: before2 }),
      ctx.measure('qemu-img convert -O raw', ['qemu-img', 'convert', '-f', theirs, '-O', 'raw', img, rawOut], { before: before2 }),
    ];
    ctx.report(`${ours} (${opts}) → raw, 1 GiB half data`, back, {
      baseline: 'qemu-img convert -O raw',
      targets: { 'diskit convert -O raw / qemu-img convert -O raw': 0.9 },
    });
    ctx.rm(img, rawOut);
  }
}
