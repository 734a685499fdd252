// HFS+: listing a volume of 100,000 entries (xorriso -hfsplus, its HFS+ partition cut out of the
// hybrid ISO) with diskit ls -R beside 7z l, and reading it all with diskit extract beside 7z x.
import { existsSync, mkdirSync, writeFileSync, openSync, readSync, closeSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export default async function (ctx) {
  if (!ctx.hasTool('xorriso') || !ctx.hasTool('7z')) return;
  const src = `${ctx.tmp}/hfs-100k`;
  if (!existsSync(`${src}/.done`)) {
    // 1,000 folders × 99 files (small, varied sizes) + the folders = 100,000 entries
    for (let d = 0; d < 1000; d++) {
      const dir = `${src}/dir${String(d).padStart(4, '0')}`;
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 99; f++) writeFileSync(`${dir}/file-${f}.txt`, `file ${d}/${f}\n`.repeat((f % 7) + 1));
    }
    writeFileSync(`${src}/.done`, '');
  }
  const iso = `${ctx.tmp}/hfs-100k.iso`;
  const part = `${ctx.tmp}/hfs-100k.hfs`;
  if (!existsSync(part)) {
    spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-hfsplus', '-o', iso, src], { stdio: 'ignore' });
    const info = JSON.parse(spawnSync('node', [ctx.diskit, 'info', '--json', iso], { encoding: 'utf8' }).stdout);
    const p = info.partitions.find((x) => x.type === 'Apple_HFS');
    copyRange(iso, part, p.start, p.size);
    ctx.rm(iso);
  }
  const rows = [
    ctx.measure('diskit ls -R', ['node', ctx.diskit, 'ls', '-R', part]),
    ctx.measure('7z l', ['7z', 'l', part]),
  ];
  ctx.report('list an HFS+ volume of 100,000 entries', rows, { baseline: '7z l', targets: { 'diskit ls -R / 7z l': 1.0 } });
  const out = `${ctx.tmp}/hfs-100k-out`;
  const before = () => ctx.rm(out);
  const rows2 = [
    ctx.measure('diskit extract', ['node', ctx.diskit, 'extract', part, '/', out], { before }),
    ctx.measure('7z x', ['7z', 'x', '-y', `-o${out}`, part], { before }),
  ];
  ctx.rm(out);
  ctx.report('extract an HFS+ volume of 100,000 entries', rows2, { baseline: '7z x' });

  // One 256 MiB file compressed by decmpfs (type 4: zlib chunks in the resource fork), as macOS
  // stores most system files; written by a test helper (nothing on Linux writes decmpfs).
  const big = `${ctx.tmp}/hfs-decmpfs-256m.hfs`;
  if (!existsSync(big)) {
    spawnSync('pnpm', ['exec', 'vitest', 'run', 'packages/hfsplus/src/test/bench-image.test.ts'], { cwd: ctx.root, stdio: 'ignore', env: { ...process.env, DISKIT_HFS_BENCH_IMAGE: big } });
  }
  const bigOut = `${ctx.tmp}/hfs-decmpfs-out`;
  const clean = () => ctx.rm(bigOut);
  const rows3 = [
    ctx.measure('diskit extract (decmpfs)', ['node', ctx.diskit, 'extract', big, '/big.log', bigOut], { before: clean }),
    ctx.measure('7z x (decmpfs)', ['7z', 'x', '-y', `-o${bigOut}`, big], { before: clean }),
  ];
  ctx.rm(bigOut);
  ctx.report('extract a 256 MiB decmpfs (zlib) file', rows3, { baseline: '7z x (decmpfs)', targets: { 'diskit extract (decmpfs) / 7z x (decmpfs)': 1.0 } });
}

function copyRange(from, to, start, size) {
  const i = openSync(from, 'r');
  const o = openSync(to, 'w');
  const buf = Buffer.alloc(1 << 20);
  for (let done = 0; done < size; ) {
    const n = readSync(i, buf, 0, Math.min(buf.length, size - done), start + done);
    if (n <= 0) break;
    writeSync(o, buf, 0, n);
    done += n;
  }
  closeSync(i);
  closeSync(o);
}
