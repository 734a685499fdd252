#!/usr/bin/env node
// `pnpm fuzz [--seconds N] [--format raw|vhd|vhdx|dmg|iso|fat|ext|hfsplus] [--seed S]`: mutation fuzzing of every
// format for N seconds each (default 60). Each bug found is saved as a regression fixture under
// test-images/fuzz-regressions/<format>/, which the test suite replays.
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fuzz, caseBytes } from '../packages/cli/dist/fuzz/run.js';
import { FORMATS, seedsFor, missingFor, regressionDir } from '../packages/cli/dist/fuzz/seeds.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, format: { type: 'string', multiple: true }, seed: { type: 'string', default: String(Date.now() % 1e9) } } });
const formats = values.format ?? FORMATS;
const baseSeed = Number(values.seed);
let bugs = 0;
for (const format of formats) {
  const missing = missingFor(format);
  if (missing.length) {
    console.log(`${format}: skipped (missing ${missing.join(', ')})`);
    continue;
  }
  const seeds = await seedsFor(format);
  const t0 = Date.now();
  const result = await fuzz(seeds, {
    seconds: Number(values.seconds), baseSeed,
    onBug: async (b) => {
      const dir = join(regressionDir, format);
      mkdirSync(dir, { recursive: true });
      const bytes = b.bytes ?? (await caseBytes(seeds, b.index, baseSeed));
      const file = join(dir, `${b.kind}-${baseSeed}-${b.index}.bin`);
      writeFileSync(file, bytes);
      console.log(`${format}: ${b.kind} at case ${b.index} (${b.what}) → ${file}\n  ${b.error.split('\n').slice(0, 3).join('\n  ')}`);
    },
  });
  bugs += result.bugs.length;
  const top = Object.entries(result.outcomes).sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`${format}: ${result.cases} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s, seed ${baseSeed}, ${result.bugs.length} bug(s)`);
  for (const [k, v] of top) console.log(`  ${String(v).padStart(7)}  ${k}`);
}
process.exit(bugs ? 1 : 0);
