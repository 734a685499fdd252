// DMG's newer kinds: reading a 256 MiB ULMO (LZMA chunks) image beside 7-Zip, and decrypting a
// 1 GiB encrypted (AES-256) image beside `openssl enc -d -aes-256-cbc` over the same bytes.
import { existsSync, statSync, openSync, writeSync, closeSync, ftruncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';

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

/**
 * Where outputs go: tmpfs when there is one, so neither diskit nor the tool it is compared with
 * waits on disk writeback (neither syncs its output) and runs are not at the mercy of other I/O.
 */
function outDir(ctx) {
  return existsSync('/dev/shm') ? '/dev/shm' : ctx.tmp;
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
    const out = join(outDir(ctx), 'diskit-ulmo-bench.raw');
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

  if (ctx.hasTool('openssl')) {
    // 1 GiB of random data as UDRO inside AES-256 (512-byte chunks, as hdiutil), ~1 GiB of ciphertext.
    const src = randomGiB(ctx);
    const pw = join(ctx.tmp, 'bench-password');
    writeFileSync(pw, 'bench password\n');
    const enc = join(ctx.tmp, 'bench-1g.aes256.dmg');
    if (!existsSync(enc)) {
      const w = ctx.measure('diskit convert -O dmg -o encryption=aes-256', ['node', ctx.diskit, 'convert', '-O', 'dmg', '-o', 'compression=raw,encryption=aes-256,iterations=1000', '--password-file', pw, src, enc], { before: () => ctx.rm(enc) });
      console.log(`\n## raw → encrypted dmg (AES-256, UDRO inside), 1 GiB: ${w.seconds.toFixed(1)} s (no target)`);
    }
    const out = join(outDir(ctx), 'diskit-aes-bench.raw');
    const before = () => ctx.rm(out);
    const key = '00'.repeat(32), iv = '00'.repeat(16);
    const rows = [
      ctx.measure('diskit convert -O raw (AES-256)', ['node', ctx.diskit, 'convert', '-O', 'raw', '--password-file', pw, enc, out], { before }),
      // The same bytes through OpenSSL's AES-256-CBC (one IV: it has no per-chunk IVs): the cost floor.
      ctx.measure('openssl enc -d -aes-256-cbc', ['openssl', 'enc', '-d', '-aes-256-cbc', '-nopad', '-K', key, '-iv', iv, '-in', enc, '-out', out], { before }),
      // diskit's own floor: the same 1 GiB copied raw → raw (no side syncs its output).
      ctx.measure('diskit convert -f raw -O raw (copy)', ['node', ctx.diskit, 'convert', '-f', 'raw', '-O', 'raw', src, out], { before }),
    ];
    ctx.report('encrypted dmg (AES-256) → raw, 1 GiB', rows, {
      baseline: 'openssl enc -d -aes-256-cbc',
      targets: { 'diskit convert -O raw (AES-256) / openssl enc -d -aes-256-cbc': 1.5 },
    });
    ctx.rm(out);
  } else console.log('\n## dmg AES: skipped (openssl not installed)');
}

/** 1 GiB of random bytes, made once. */
function randomGiB(ctx) {
  const p = join(ctx.tmp, 'random-1g.img');
  if (existsSync(p) && statSync(p).size === 1 << 30) return p;
  const fd = openSync(p, 'w');
  const block = Buffer.alloc(1 << 20);
  for (let mib = 0; mib < 1024; mib++) {
    randomFillSync(block);
    writeSync(fd, block, 0, block.length, mib * (1 << 20));
  }
  closeSync(fd);
  return p;
}
