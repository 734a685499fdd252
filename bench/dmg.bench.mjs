// dmg (UDZO) → raw beside qemu-img and 7z, and raw → UDZO with 1 compression thread vs all,
// on the 1 GiB half-data image (random data: every chunk is stored raw) and on a 1 GiB
// half-data image whose data compresses (text-like), where zlib does real work.
import { existsSync, statSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';

/**
 * 1 GiB, alternate MiB data / hole, the data text-like: words from a 1,024-word vocabulary and
 * some numbers, from xorshift32 (an LCG's short low-bit periods made the text repeat and deflate
 * 30:1 at 1.5 GB/s). Measured: about 2.6:1 at zlib level 1, ~130 MB/s on one core here.
 */
function compressibleHalf(ctx) {
  const p = join(ctx.tmp, 'half-1g-words.img');
  if (existsSync(p) && statSync(p).size === 1 << 30) return p;
  let x = 2463534242;
  const rnd = () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const vocab = Array.from({ length: 1024 }, () => {
    let w = '';
    for (let i = 0, n = 2 + (rnd() % 9); i < n; i++) w += letters[Math.min(25, Math.floor(-Math.log(1 - (rnd() % 1000) / 1000) * 6))];
    return w;
  });
  const fd = openSync(p, 'w');
  ftruncateSync(fd, 1 << 30);
  const block = Buffer.alloc(1 << 20);
  for (let mib = 0; mib < 1024; mib += 2) {
    let s = '';
    while (s.length < block.length) {
      const r = rnd();
      s += vocab[r % 1024] + ((r >>> 12) % 11 === 0 ? '.\n' : ' ') + ((r >>> 20) % 9 === 0 ? `${rnd() % 1000} ` : '');
    }
    block.write(s.slice(0, block.length), 'latin1');
    writeSync(fd, block, 0, block.length, mib * (1 << 20));
  }
  closeSync(fd);
  return p;
}

export default async function (ctx) {
  if (!ctx.hasTool('qemu-img')) {
    console.log('\n## dmg: skipped (qemu-img not installed)');
    return;
  }
  const all = Math.max(2, availableParallelism());
  // The targets are about (de)compression on several cores, so they are checked on the text image,
  // where qemu-img inflates ~650 MB/s of output on one core (the "about 540 MB/s"). On the
  // random image every chunk is stored (deflate cannot shrink it): both directions are file copies,
  // printed for comparison without a target.
  for (const [name, src, withTargets] of [['half data (random; chunks stored)', ctx.halfImage(), false], ['half data (text, 2.6:1)', compressibleHalf(ctx), true]]) {
    const dmg = join(ctx.tmp, 'dmg-bench.dmg');
    const before = () => ctx.rm(dmg);
    const write = [
      ctx.measure('diskit convert -O dmg workers=1', ['node', ctx.diskit, 'convert', '-O', 'dmg', '-o', 'workers=1', src, dmg], { before }),
      ctx.measure(`diskit convert -O dmg workers=${all}`, ['node', ctx.diskit, 'convert', '-O', 'dmg', '-o', `workers=${all}`, src, dmg], { before }),
    ];
    ctx.report(`raw → dmg (UDZO, zlib level 1), 1 GiB ${name}`, write, {
      baseline: 'diskit convert -O dmg workers=1',
      // "2 workers ≥ 1.7× faster than 1" as a time ratio.
      targets: withTargets ? { [`diskit convert -O dmg workers=${all} / diskit convert -O dmg workers=1`]: 1 / 1.7 } : {},
    });
    ctx.rm(dmg);
    ctx.measure('make UDZO', ['node', ctx.diskit, 'convert', '-O', 'dmg', src, dmg], { before });
    const out = join(ctx.tmp, 'dmg-bench.raw');
    const before2 = () => ctx.rm(out);
    const read = [
      ctx.measure('diskit convert -O raw', ['node', ctx.diskit, 'convert', '-O', 'raw', dmg, out], { before: before2 }),
      ctx.measure('qemu-img convert -f dmg -O raw', ['qemu-img', 'convert', '-f', 'dmg', '-O', 'raw', dmg, out], { before: before2 }),
    ];
    if (ctx.hasTool('7z')) read.push(ctx.measure('7z x -so', ['sh', '-c', `7z x -tdmg -so '${dmg}' > '${out}'`], { before: before2 }));
    ctx.report(`dmg (UDZO) → raw, 1 GiB ${name}`, read, {
      baseline: 'qemu-img convert -f dmg -O raw',
      targets: withTargets ? { 'diskit convert -O raw / qemu-img convert -f dmg -O raw': 0.6 } : {},
    });
    ctx.rm(dmg, out);
  }
}
