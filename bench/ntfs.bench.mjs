// NTFS: listing a volume of 100,000 entries (diskit ls -R beside 7z l) and extracting a 1 GiB file
// (diskit extract beside 7z x). The volume is made once with mkntfs and an ntfs-3g FUSE mount, so
// this bench needs root and /dev/fuse; elsewhere it is skipped with a note.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

function makeVolume(ctx, img) {
  const mnt = `${ctx.tmp}/ntfs-mnt`;
  mkdirSync(mnt, { recursive: true });
  const sh = (cmd, args) => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  };
  sh('truncate', ['-s', '2G', `${img}.tmp`]);
  sh('mkntfs', ['-F', '-f', '-q', '-c', '4096', `${img}.tmp`]);
  sh('ntfs-3g', ['-o', 'big_writes', `${img}.tmp`, mnt]);
  try {
    // 1,000 directories × 99 small files + the directories = 100,000 entries, and one 1 GiB file.
    for (let d = 0; d < 1000; d++) {
      const dir = `${mnt}/dir${String(d).padStart(4, '0')}`;
      mkdirSync(dir);
      for (let f = 0; f < 99; f++) writeFileSync(`${dir}/file-${f}.txt`, `file ${d}/${f}\n`.repeat((f % 7) + 1));
    }
    sh('sh', ['-c', `head -c 1073741824 /dev/urandom > ${mnt}/big.bin`]);
  } finally {
    sh('umount', [mnt]);
  }
  sh('mv', [`${img}.tmp`, img]);
}

export default async function (ctx) {
  if (!ctx.hasTool('mkntfs') || !ctx.hasTool('ntfs-3g') || !ctx.hasTool('7z') || process.getuid?.() !== 0 || !existsSync('/dev/fuse')) {
    console.log('\n## NTFS: skipped (needs mkntfs, ntfs-3g, 7z, root and /dev/fuse to make the volume)');
    return;
  }
  const img = `${ctx.tmp}/ntfs-100k.img`;
  if (!existsSync(img)) makeVolume(ctx, img);
  const rows = [
    ctx.measure('diskit ls -R', ['node', ctx.diskit, 'ls', '-R', img]),
    ctx.measure('7z l', ['7z', 'l', img]),
  ];
  ctx.report('list an NTFS volume of 100,000 entries', rows, { baseline: '7z l', targets: { 'diskit ls -R / 7z l': 1.0 } });
  const out = `${ctx.tmp}/ntfs-out`;
  const before = () => {
    ctx.rm(out);
    mkdirSync(out, { recursive: true });
  };
  const rows2 = [
    ctx.measure('diskit extract', ['node', ctx.diskit, 'extract', img, '/big.bin', `${out}/big.bin`], { before }),
    ctx.measure('7z x', ['7z', 'x', '-y', `-o${out}`, img, 'big.bin'], { before }),
  ];
  ctx.rm(out);
  ctx.report('extract a 1 GiB file from NTFS', rows2, { baseline: '7z x', targets: { 'diskit extract / 7z x': 1.0 } });
}
