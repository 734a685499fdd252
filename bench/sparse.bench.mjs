// Sparse image and sparse bundle, both ways, on the 1 GiB half-data image, beside copying the
// raw image with cp --sparse=always (the same bytes moved, holes kept): a sparse format should
// cost little more than a copy of its data.
import { join } from 'node:path';

export default async function (ctx) {
  const src = ctx.halfImage();
  const cpOut = join(ctx.tmp, 'sparse-bench.cp');
  const cp = ctx.measure('cp --sparse=always', ['cp', '--sparse=always', src, cpOut], { before: () => ctx.rm(cpOut) });
  ctx.rm(cpOut);
  for (const format of ['sparseimage', 'sparsebundle']) {
    const img = join(ctx.tmp, `sparse-bench.${format}`);
    const write = ctx.measure(`diskit convert -O ${format}`, ['node', ctx.diskit, 'convert', '-O', format, src, img], { before: () => ctx.rm(img) });
    ctx.report(`raw → ${format}, 1 GiB half data`, [write, cp], {
      baseline: 'cp --sparse=always',
      targets: { [`diskit convert -O ${format} / cp --sparse=always`]: 2 },
    });
    const out = join(ctx.tmp, 'sparse-bench.raw');
    const read = ctx.measure(`diskit convert ${format} -O raw`, ['node', ctx.diskit, 'convert', '-O', 'raw', img, out], { before: () => ctx.rm(out) });
    ctx.report(`${format} → raw, 1 GiB half data`, [read, cp], {
      baseline: 'cp --sparse=always',
      targets: { [`diskit convert ${format} -O raw / cp --sparse=always`]: 2 },
    });
    ctx.rm(img, out);
  }
}
