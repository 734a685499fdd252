import { describe, expect, it } from 'vitest';
import { describeNeeding } from '../../../../test/tools.js';
import { FORMATS, seedsFor, missingFor, regressionCases } from './seeds.js';
import { fuzz } from './run.js';
import { exercise } from './exercise.js';
import { defaultRegistry } from '../registry.js';

// Seeded and bounded: at least 10,000 cases in all, the same cases on every run.
const CASES: Record<string, number> = { raw: 2000, vhd: 2000, vhdx: 2000, dmg: 2500, iso: 2500, sparseimage: 1500, sparsebundle: 1000, udf: 1500, fat: 1500, ext: 2000, apfs: 2000, hfsplus: 2000, ntfs: 1500 };

for (const format of FORMATS) {
  describeNeeding(missingFor(format), `fuzz ${format}`, () => {
    it(`${CASES[format]} seeded mutations end in typed errors or success, without hangs or huge allocations`, async () => {
      const seeds = await seedsFor(format);
      expect(seeds.length).toBeGreaterThan(0);
      const result = await fuzz(seeds, { cases: CASES[format], baseSeed: 20261125, caseTimeoutMs: 10_000 });
      const report = result.bugs.map((b) => `${b.kind} case ${b.index} (${b.seed}, ${b.what}): ${b.error.split('\n').slice(0, 4).join(' | ')}`);
      expect(report).toEqual([]);
      expect(result.cases).toBe(CASES[format]);
    }, 600_000);

    it('committed regression cases stay fixed', async () => {
      const reg = defaultRegistry();
      for (const c of regressionCases(format)) await exercise(reg, c.bytes, c.name);
    });
  });
}

describe('fuzz harness', () => {
  const seeds = [{ name: 'zeros.img', bytes: new Uint8Array(65536) }];
  it('catches a hang and goes on after it', async () => {
    const r = await fuzz(seeds, { cases: 2, caseTimeoutMs: 300, selfTest: 'hang' });
    expect(r.bugs.map((b) => [b.kind, b.index])).toEqual([['hang', 0], ['hang', 1]]);
  });
  it('catches an allocation over the cap', async () => {
    const r = await fuzz(seeds, { cases: 1, selfTest: 'alloc' });
    expect(r.bugs[0]?.error).toMatch(/AllocationCapError/);
  });

  it('reports an untyped error as a bug', async () => {
    const reg = defaultRegistry();
    const bad = { name: 'x', probe: () => 100, open: async () => { throw new TypeError('boom'); }, description: 'x' };
    reg.formats.unshift(bad);
    await expect(exercise(reg, new Uint8Array(1024), 'x')).rejects.toThrow('boom');
  });
});
