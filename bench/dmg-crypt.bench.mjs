// DMG's newer kinds: reading a 256 MiB ULMO (LZMA chunks) image beside 7-Zip, and decrypting a
// 1 GiB encrypted (AES-256) image beside `openssl enc -d -aes-256-cbc` over the same bytes.
import { existsSync, statSync, openSync, writeSync, closeSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** 256 MiB: 3 MiB of text-like data (LZMA ~4:1) in every 4 MiB, the rest zeros. */
function ulmoSource(ctx) {
  const p = join(ctx.tmp, 'ulmo-src-256m.img');
  if (existsSync(p) && statSync(p).size === 256 << 20) return p;
  let x = 2463534242;
  const rnd = () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  const words = Array.from({ length: 4096 }, () => rnd().toString(36).slice(0, 2 + (rnd() % 7)));
  const fd = openSync(p, 'w');
  ftruncateSync(fd, 256 << 20);
  const block = Buffer.alloc(3 << 20);
  for (let mib = 0; mib < 256; mib += 4) {
    let s = '';
    while (s.length < block.length) s += words[rnd() % 4096] + (rnd() % 13 === 0 ? '\n' : ' ');
    block.write(s.slice(0, block.length), 'latin1');
    writeSync(fd, block, 0, block.length, mib * (1 << 20));
  }
  closeSync(fd);
  return p;
}

function run(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

export default async function (ctx) {
  if (ctx.hasTool('7z') && ctx.hasTool('python3')) {
    const src = ulmoSource(ctx);
    const udro = join(ctx.tmp, 'ulmo-src.dmg');
    const ulmo = join(ctx.tmp, 'bench-256m.ulmo.dmg');
    if (!existsSync(ulmo)) {
      ctx.rm(udro);
      run(['node', ctx.diskit, 'convert', '-O', 'dmg', '-o', 'compression=raw', src, udro]);
      // Python's lzma (preset 3) writes the LZMA chunks: diskit writes no ULMO.
      run(['python3', join(ctx.root, 'packages/dmg/src/test/ulmo.py'), udro, ulmo, '3']);
      ctx.rm(udro);
    }
    const out = join(ctx.tmp, 'ulmo-bench.raw');
    const before = () => ctx.rm(out);
    const rows = [
      ctx.measure('diskit convert -O raw (ULMO)', ['node', ctx.diskit, 'convert', '-O', 'raw', ulmo, out], { before }),
      ctx.measure('7z x -tdmg -so', ['sh', '-c', `7z x -tdmg -so '${ulmo}' > '${out}'`], { before }),
    ];
    ctx.report('dmg (ULMO, LZMA chunks) → raw, 256 MiB (3/4 text)', rows, {
      baseline: '7z x -tdmg -so',
      targets: { 'diskit convert -O raw (ULMO) / 7z x -tdmg -so': 1.0 },
    });
    ctx.rm(out);
  } else console.log('\n## dmg ULMO: skipped (7z or python3 not installed)');
}
