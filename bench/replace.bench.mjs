// Replacing an existing output (convert --force over last run's file), beside qemu-img doing the
// same: renaming a new file over an old one made ext4 write the new data back at once (auto_da_alloc).
import { spawnSync } from 'node:child_process';

export default async function (ctx) {
  const src = ctx.halfImage();
  const out = `${ctx.tmp}/replace-out.img`;
  // An old output in place, written back to disk (as last week's file would be).
  const existing = () => {
    ctx.rm(out);
    spawnSync('cp', ['--sparse=always', src, out]);
    spawnSync('sync');
  };
  const fresh = () => {
    ctx.rm(out);
    spawnSync('sync');
  };
  const rows = [
    ctx.measure('diskit convert --force (replace)', ['node', ctx.diskit, 'convert', '--force', '-O', 'raw', src, out], { before: existing }),
    ctx.measure('diskit convert (new file)', ['node', ctx.diskit, 'convert', '-O', 'raw', src, out], { before: fresh }),
  ];
  if (ctx.hasTool('qemu-img')) {
    rows.push(ctx.measure('qemu-img convert (replace)', ['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', src, out], { before: existing }));
    rows.push(ctx.measure('qemu-img convert (new file)', ['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', src, out], { before: fresh }));
  }
  ctx.rm(out);
  ctx.report('replace an existing output, 1 GiB half data', rows, {
    baseline: 'qemu-img convert (replace)',
    targets: { 'diskit convert --force (replace) / qemu-img convert (replace)': 1.1 },
  });
}
