// ISO9660: listing a 100,000-entry ISO (diskit ls -R beside xorriso -find) and building it
// (diskit create iso beside xorriso -as mkisofs -R -J).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export default async function (ctx) {
  if (!ctx.hasTool('xorriso')) return;
  const src = `${ctx.tmp}/iso-100k`;
  if (!existsSync(`${src}/.done`)) {
    // 1,000 directories × 99 files (small, varied sizes) + the directories = 100,000 entries
    for (let d = 0; d < 1000; d++) {
      const dir = `${src}/dir${String(d).padStart(4, '0')}`;
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 99; f++) writeFileSync(`${dir}/file-${f}.txt`, `file ${d}/${f}\n`.repeat((f % 7) + 1));
    }
    writeFileSync(`${src}/.done`, '');
  }
  const ref = `${ctx.tmp}/iso-100k-ref.iso`;
  if (!existsSync(ref)) spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', ref, src], { stdio: 'ignore' });
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const rows = [
    ctx.measure('diskit ls -R', ['node', ctx.diskit, 'ls', '-R', ref]),
    ctx.measure('xorriso -find', ['xorriso', '-indev', ref, '-find', '/']),
  ];
  ctx.report('list a 100,000-entry ISO', rows, { baseline: 'xorriso -find', targets: { 'diskit ls -R / xorriso -find': 1.5 } });
  const out = `${ctx.tmp}/iso-100k-out.iso`;
  const before = () => ctx.rm(out);
  const rows2 = [
    ctx.measure('diskit create iso', ['node', ctx.diskit, 'create', 'iso', src, out, '--force'], { before, env }),
    ctx.measure('xorriso -as mkisofs -R -J', ['xorriso', '-as', 'mkisofs', '-quiet', '-R', '-J', '-o', out, src], { before, env }),
  ];
  ctx.rm(out);
  ctx.report('build a 100,000-entry ISO', rows2, { baseline: 'xorriso -as mkisofs -R -J', targets: { 'diskit create iso / xorriso -as mkisofs -R -J': 1.0 } });
}
