// What remote images cost: `diskit ls -R` of a 1 GiB ISO with 10,000 files and `diskit info` of a
// VHDX and a DMG, each served by a loopback range server; requests made and bytes fetched, against
// the bytes the command itself read (its metadata). Targets: fetched ≤ 2× read, info ≤ 20 requests.
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, fstatSync, writeFileSync } from 'node:fs';

function serveFile(path) {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) return res.writeHead(416).end();
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), size - 1);
    const buf = Buffer.alloc(end - start + 1);
    readSync(fd, buf, 0, buf.length, start);
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': buf.length, ETag: '"bench"' }).end(buf);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/img`, close: () => { server.close(); closeSync(fd); } })));
}

async function stats(ctx, args) {
  // Async spawn: the server lives in this process.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const p = spawn('node', [ctx.diskit, ...args, '--stats'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('exit', (code) => {
      const m = /(\d+) requests, (\d+) bytes fetched for (\d+) bytes read/.exec(err);
      if (code !== 0 || !m) reject(new Error(`${args.join(' ')}: ${err}`));
      else resolve({ requests: Number(m[1]), fetched: Number(m[2]), read: Number(m[3]) });
    });
  });
}

export default async function (ctx) {
  if (!ctx.hasTool('xorriso') || !ctx.hasTool('qemu-img')) {
    console.log('\n## remote: skipped (xorriso, qemu-img needed)');
    return;
  }
  const tree = `${ctx.tmp}/remote-tree`;
  const iso = `${ctx.tmp}/remote-10k.iso`;
  if (!existsSync(iso)) {
    for (let d = 0; d < 100; d++) {
      mkdirSync(`${tree}/d${d}`, { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(`${tree}/d${d}/file-${f}.txt`, `${d}/${f}\n`);
    }
    // 1 GiB of file data: one large file beside the small ones.
    spawnSync('truncate', ['-s', '1000M', `${tree}/big.bin`]);
    spawnSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, tree]);
  }
  const vhdx = `${ctx.tmp}/remote.vhdx`;
  const dmg = `${ctx.tmp}/remote.dmg`;
  if (!existsSync(vhdx)) spawnSync('qemu-img', ['convert', '-O', 'vhdx', ctx.halfImage(), vhdx]);
  if (!existsSync(dmg)) spawnSync('node', [ctx.diskit, 'convert', '-O', 'dmg', ctx.halfImage(), dmg]);
  console.log('\n## remote images (loopback range server): requests and bytes');
  for (const [label, path, args, maxRequests] of [
    ['ls -R, 1 GiB ISO, 10,000 files', iso, ['ls', '-R'], Infinity],
    ['info, 1 GiB VHDX (qemu-img)', vhdx, ['info'], 20],
    ['info, 1 GiB DMG (UDZO)', dmg, ['info'], 20],
  ]) {
    const s = await serveFile(path);
    try {
      const r = await stats(ctx, [...args, s.url]);
      const ratio = r.fetched / r.read;
      console.log(`  ${label.padEnd(34)} ${String(r.requests).padStart(5)} requests  ${r.fetched.toLocaleString('en').padStart(12)} bytes fetched for ${r.read.toLocaleString('en')} read: ${ratio.toFixed(2)}×`);
      ctx.record?.(label, 'bytes fetched / bytes read ≤ 2', ratio, ratio <= 2);
      if (maxRequests !== Infinity) ctx.record?.(label, `requests ≤ ${maxRequests}`, r.requests, r.requests <= maxRequests);
    } finally {
      s.close();
    }
  }
}
