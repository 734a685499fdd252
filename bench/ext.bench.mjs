// ext4: listing 100,000 files (diskit ls -R beside 7z l) and extracting a 1 GiB file that is half
// holes (diskit extract beside 7z x), from images made by mke2fs -d.
import { existsSync, mkdirSync, writeFileSync, linkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export default async function (ctx) {
  if (!ctx.hasTool('mke2fs') || !ctx.hasTool('7z')) return;
  const src = `${ctx.tmp}/ext-100k`;
  if (!existsSync(`${src}/.done`)) {
    // 100 directories × 1,000 small files (+ the directories) ≈ 100,100 entries
    for (let d = 0; d < 100; d++) {
      const dir = `${src}/dir${String(d).padStart(3, '0')}`;
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 1000; f++) writeFileSync(`${dir}/file-${f}.txt`, `file ${d}/${f}\n`.repeat((f % 7) + 1));
    }
    writeFileSync(`${src}/.done`, '');
  }
  const img = `${ctx.tmp}/ext-100k.img`;
  if (!existsSync(img)) spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-N', '110000', '-d', src, img, '512M'], { stdio: 'ignore' });
  const rows = [
    ctx.measure('diskit ls -R', ['node', ctx.diskit, 'ls', '-R', img]),
    ctx.measure('7z l', ['7z', 'l', img]),
  ];
  ctx.report('list an ext4 image of 100,000 files', rows, { baseline: '7z l', targets: { 'diskit ls -R / 7z l': 1.0 } });

  // A 1 GiB file, half random data, half holes (the bench's shared half image as the file).
  const bigSrc = `${ctx.tmp}/ext-1g-src`;
  if (!existsSync(`${bigSrc}/big.bin`)) {
    mkdirSync(bigSrc, { recursive: true });
    linkSync(ctx.halfImage(), `${bigSrc}/big.bin`);
  }
  const bigImg = `${ctx.tmp}/ext-1g.img`;
  if (!existsSync(bigImg)) spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', bigSrc, bigImg, '1200M'], { stdio: 'ignore' });
  const out = `${ctx.tmp}/ext-1g-out`;
  const before = () => ctx.rm(out);
  const rows2 = [
    ctx.measure('diskit extract', ['node', ctx.diskit, 'extract', bigImg, '/big.bin', out], { before }),
    ctx.measure('7z x', ['7z', 'x', '-y', `-o${out}`, bigImg, 'big.bin'], { before }),
  ];
  ctx.rm(out);
  ctx.report('extract a 1 GiB file (half holes) from ext4', rows2, { baseline: '7z x', targets: { 'diskit extract / 7z x': 1.0 } });
}
