// FAT32: listing a volume of 20,000 files (diskit ls -R beside 7z l) and extracting one 1 GiB file
// (diskit extract beside 7z x). Images made by mkfs.fat + mcopy, kept in the bench folder.
import { existsSync, mkdirSync, writeFileSync, openSync, writeSync, closeSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', LANG: 'C.UTF-8' };
const sh = (cmd, args) => {
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
};

export default async function (ctx) {
  if (!ctx.hasTool('mkfs.fat') || !ctx.hasTool('mcopy') || !ctx.hasTool('7z')) return;
  // 200 directories × 100 files (small, varied names and sizes) = 20,000 files + 200 directories
  const many = `${ctx.tmp}/fat32-20k.img`;
  if (!existsSync(many)) {
    const src = `${ctx.tmp}/fat-20k-src`;
    for (let d = 0; d < 200; d++) {
      const dir = `${src}/Directory number ${String(d).padStart(3, '0')}`;
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(`${dir}/file-${f} with a long name.txt`, `file ${d}/${f}\n`.repeat((f % 7) + 1));
    }
    const tmp = `${many}.tmp`;
    ctx.rm(tmp);
    sh('mkfs.fat', ['-C', '-F', '32', '-s', '8', tmp, String(512 << 10)]);
    sh('mcopy', ['-s', '-i', tmp, ...readdirSync(src).map((n) => `${src}/${n}`), '::/']);
    sh('mv', [tmp, many]);
    ctx.rm(src);
  }
  const rows = [
    ctx.measure('diskit ls -R', ['node', ctx.diskit, 'ls', '-R', many]),
    ctx.measure('7z l', ['7z', 'l', many]),
  ];
  ctx.report('list a FAT32 volume of 20,000 files', rows, { baseline: '7z l', targets: { 'diskit ls -R / 7z l': 1.0 }, memoryMiB: 150 });

  // one 1 GiB file of random-looking data in a 1.1 GiB FAT32 volume with 4 KiB clusters (a chain of 262,144)
  const big = `${ctx.tmp}/fat32-1g.img`;
  if (!existsSync(big)) {
    const data = `${ctx.tmp}/fat-1g.bin`;
    const fd = openSync(data, 'w');
    const block = new Uint8Array(1 << 20);
    for (let i = 0; i < 1024; i++) {
      for (let k = 0; k < block.length; k += 4096) block[k] = (i * 131 + k) & 0xff;
      writeSync(fd, block);
    }
    closeSync(fd);
    const tmp = `${big}.tmp`;
    ctx.rm(tmp);
    sh('mkfs.fat', ['-C', '-F', '32', '-s', '8', tmp, String(1100 << 10)]);
    sh('mcopy', ['-i', tmp, data, '::/big.bin']);
    sh('mv', [tmp, big]);
    ctx.rm(data);
  }
  const out = `${ctx.tmp}/fat-out`;
  const before = () => ctx.rm(out);
  const rows2 = [
    ctx.measure('diskit extract', ['node', ctx.diskit, 'extract', big, '/big.bin', out], { before }),
    ctx.measure('7z x', ['7z', 'x', '-y', `-o${out}`, big, 'big.bin'], { before }),
  ];
  ctx.rm(out);
  ctx.report('extract a 1 GiB file from FAT32', rows2, { baseline: '7z x', targets: { 'diskit extract / 7z x': 1.0 }, memoryMiB: 150 });
}
