#!/usr/bin/env node
// `pnpm bench [name…]`: runs bench/*.bench.mjs (or those named), each comparing diskit with the
// real tools in the same run, and prints times, peak memory and ratios against the targets.
import { readdirSync, existsSync, mkdirSync, rmSync, statSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { randomFillSync } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tmp = process.env.DISKIT_BENCH_DIR ?? join(tmpdir(), 'diskit-bench');
mkdirSync(tmp, { recursive: true });
const repeat = Number(process.env.DISKIT_BENCH_REPEAT ?? 3);
const results = [];

const hasTool = (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;

/** Run a command `repeat` times (after `before()` each time); keep the fastest wall time and its peak RSS. */
function measure(label, argv, { before, env } = {}) {
  let best;
  for (let i = 0; i < repeat; i++) {
    before?.();
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${label} failed (${r.status}): ${r.stderr}`);
    const rssKiB = Number(r.stderr.trim().split('\n').pop());
    if (!best || seconds < best.seconds) best = { label, seconds, peakMiB: rssKiB / 1024 };
  }
  return best;
}

/** A 1 GiB raw image, half data (random 1 MiB blocks) and half holes, made once. */
function halfImage() {
  const p = join(tmp, 'half-1g.img');
  if (existsSync(p) && statSync(p).size === 1 << 30) return p;
  const fd = openSync(p, 'w');
  ftruncateSync(fd, 1 << 30);
  const block = Buffer.alloc(1 << 20);
  for (let mib = 0; mib < 1024; mib += 2) {
    randomFillSync(block);
    writeSync(fd, block, 0, block.length, mib * (1 << 20));
  }
  closeSync(fd);
  return p;
}

const ctx = {
  tmp,
  root,
  diskit: join(root, 'packages/cli/bin/diskit.js'),
  hasTool,
  halfImage,
  measure,
  rm: (...paths) => paths.forEach((p) => rmSync(p, { force: true, recursive: true })),
  /** Record a target measured some other way than time (counts, ratios of bytes). */
  record(title, target, value, ok) {
    results.push({ title, target, ratio: value, ok });
    console.log(`  target ${target}: ${Number(value).toFixed(2)} ${ok ? 'met' : 'MISSED'}`);
  },
  /** Record one comparison: rows measured in this run, and targets as {label: maxRatio} against `base`. */
  report(title, rows, { baseline, targets = {}, memoryMiB = 150 } = {}) {
    const base = rows.find((r) => r.label === baseline) ?? rows[1];
    console.log(`\n## ${title}`);
    for (const r of rows) {
      const ratio = base ? r.seconds / base.seconds : 1;
      console.log(`  ${r.label.padEnd(34)} ${r.seconds.toFixed(3).padStart(8)} s  ${r.peakMiB.toFixed(0).padStart(5)} MiB  ${ratio.toFixed(2)}× ${base?.label ?? ''}`);
    }
    for (const [label, max] of Object.entries(targets)) {
      const [a, b] = label.split(' / ');
      const ra = rows.find((r) => r.label === a);
      const rb = rows.find((r) => r.label === b);
      if (!ra || !rb) continue;
      const ratio = ra.seconds / rb.seconds;
      const ok = ratio <= max;
      results.push({ title, target: `${label} ≤ ${max}`, ratio, ok });
      console.log(`  target ${label} ≤ ${max}: ${ratio.toFixed(2)} ${ok ? 'met' : 'MISSED'}`);
    }
    for (const r of rows.filter((r) => r.label.startsWith('diskit'))) {
      const ok = r.peakMiB <= memoryMiB;
      results.push({ title, target: `${r.label} peak ≤ ${memoryMiB} MiB`, ratio: r.peakMiB, ok });
      if (!ok) console.log(`  target ${r.label} peak memory ≤ ${memoryMiB} MiB: ${r.peakMiB.toFixed(0)} MISSED`);
    }
  },
};

const only = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).sort()
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));
console.log(`diskit benchmarks — best of ${repeat} runs, data in ${tmp}`);
for (const f of files) {
  const mod = await import(join(here, f));
  try {
    await mod.default(ctx);
  } catch (e) {
    console.log(`\n## ${f}: failed: ${e.message}`);
    results.push({ title: f, target: 'runs', ok: false });
  }
}
const missed = results.filter((r) => !r.ok);
console.log(`\n${results.length - missed.length}/${results.length} targets met`);
