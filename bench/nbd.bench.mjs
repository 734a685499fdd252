// nbdcopy from `diskit serve` beside nbdcopy from `qemu-nbd` serving the same 1 GiB half-data
// dynamic VHD; and a UDZO DMG served by diskit beside `diskit convert -O raw` of it (qemu-nbd reads
// only zlib DMGs, slower than diskit, so the converter is the fairer yardstick there).
export default async function (ctx) {
  const need = ['qemu-img', 'qemu-nbd', 'nbdcopy'].filter((t) => !ctx.hasTool(t));
  if (need.length) {
    console.log(`\n## nbd: skipped (${need.join(', ')} not installed)`);
    return;
  }
  const src = ctx.halfImage();
  const vhd = `${ctx.tmp}/nbd-bench.vhd`;
  const dmg = `${ctx.tmp}/nbd-bench.dmg`;
  const out = `${ctx.tmp}/nbd-bench-out.raw`;
  ctx.rm(vhd, dmg);
  ctx.measure('make vhd', ['qemu-img', 'convert', '-f', 'raw', '-O', 'vpc', src, vhd], { before: () => ctx.rm(vhd) });
  ctx.measure('make dmg', ['node', ctx.diskit, 'convert', '-O', 'dmg', src, dmg], { before: () => ctx.rm(dmg) });
  const before = () => ctx.rm(out);
  // nbdcopy starts each server itself (socket activation), so both sides pay their start-up.
  const rows = [
    ctx.measure('nbdcopy from diskit serve', ['nbdcopy', '--', '[', 'node', ctx.diskit, 'serve', vhd, ']', out], { before }),
    ctx.measure('nbdcopy from qemu-nbd', ['nbdcopy', '--', '[', 'qemu-nbd', '-r', '-f', 'vpc', vhd, ']', out], { before }),
  ];
  ctx.report('nbdcopy of a dynamic VHD, 1 GiB half data', rows, {
    baseline: 'nbdcopy from qemu-nbd',
    targets: { 'nbdcopy from diskit serve / nbdcopy from qemu-nbd': 1.0 },
  });
  const dmgRows = [
    ctx.measure('nbdcopy from diskit serve (dmg)', ['nbdcopy', '--', '[', 'node', ctx.diskit, 'serve', dmg, ']', out], { before }),
    ctx.measure('diskit convert -O raw (dmg)', ['node', ctx.diskit, 'convert', '-O', 'raw', dmg, out], { before }),
    ctx.measure('nbdcopy from qemu-nbd (dmg)', ['nbdcopy', '--', '[', 'qemu-nbd', '-r', '-f', 'dmg', dmg, ']', out], { before }),
  ];
  ctx.report('nbdcopy of a UDZO DMG, 1 GiB half data (random)', dmgRows, {
    baseline: 'diskit convert -O raw (dmg)',
    targets: { 'nbdcopy from diskit serve (dmg) / diskit convert -O raw (dmg)': 1.0 },
  });
  ctx.rm(vhd, dmg, out);
}
