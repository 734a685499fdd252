import { describe, it, expect } from 'vitest';
import { UsageError } from '@diskit/core';
import { planIso, MAX_EXTENT, type BuildNode } from './build/index.js';

const t = new Date('2020-01-01T00:00:00Z');
const dir = (name: string, children: BuildNode[] = []): BuildNode => ({ name, type: 'directory', mode: 0o40755, uid: 0, gid: 0, mtime: t, size: 0, children });
const file = (name: string, size: number): BuildNode => ({ name, type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: t, size, source: '/dev/null' });

describe('planIso limits and layout', () => {
  it('more than 65,535 directories is a UsageError (path table parent numbers are 16-bit)', () => {
    const kids: BuildNode[] = [];
    for (let i = 0; i < 65535; i++) kids.push(dir(`d${i}`));
    expect(() => planIso(dir('', kids), {}, t)).toThrow(UsageError);
    kids.pop();
    expect(() => planIso(dir('', kids), { joliet: false }, t)).not.toThrow();
  });

  it('bad volume ids and boot options are UsageErrors', () => {
    expect(() => planIso(dir('', []), { volumeId: 'x'.repeat(33) }, t)).toThrow(UsageError);
    expect(() => planIso(dir('', []), { volumeId: 'naïve' }, t)).toThrow(UsageError);
    expect(() => planIso(dir('', [file('b.img', 2048)]), { noEmulBoot: true }, t)).toThrow(/need --boot/);
    expect(() => planIso(dir('', [file('b.img', 2048)]), { boot: 'b.img', noEmulBoot: true, bootLoadSize: 70000 }, t)).toThrow(UsageError);
    expect(() => planIso(dir('', [file('b.img', 0)]), { boot: 'b.img', noEmulBoot: true }, t)).toThrow(/empty/);
    expect(() => planIso(dir('', [file('b.img', 2048)]), { boot: 'b.img', noEmulBoot: true, bootCatalog: 'b.img' }, t)).toThrow(/already exists/);
  });

  it('many names mapping to one identifier are numbered without a quadratic search', () => {
    const kids: BuildNode[] = [];
    for (let i = 0; i < 30000; i++) kids.push(file(String.fromCharCode(0x4e00 + (i % 500), 0x4e00 + Math.floor(i / 500)) + '-' + 'é'.repeat(70), 1));
    const t0 = Date.now();
    const plan = planIso(dir('', kids), {}, t);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(plan.files.length).toBe(30000);
  });

  it('a 10 GiB file takes three extents of at most 4 GiB − 2 KiB, in consecutive blocks', () => {
    const big = file('big', 10 * 2 ** 30);
    const plan = planIso(dir('', [big]), {}, t);
    expect(plan.totalBlocks).toBeGreaterThan((10 * 2 ** 30) / 2048);
    expect(Math.ceil(big.size / MAX_EXTENT)).toBe(3);
    expect(plan.files).toEqual([big]);
  });

  it('ISO names: d-characters, unique after mapping, in ECMA-119 order', () => {
    const kids = ['a.txt', 'A.TXT', 'a-b.txt', 'a.b.c', 'README', 'x'.repeat(40) + '.md', 'x'.repeat(40) + '.mdx'].map((n) => file(n, 1));
    const plan = planIso(dir('', kids), { joliet: false, rockRidge: false }, t);
    const names: string[] = [];
    for (const m of plan.metadata()) {
      // the root directory is the first extent after the path tables: find records by walking the blocks
      const b = m.bytes;
      if (b.length !== 2048 || b[0] !== 34 || b[33] !== 0) continue;
      let p = 0;
      while (p < b.length && b[p]! > 0) {
        const len = b[p]!, nl = b[p + 32]!;
        const id = String.fromCharCode(...b.subarray(p + 33, p + 33 + nl));
        if (id !== '\0' && id !== '\x01') names.push(id);
        p += len;
      }
    }
    expect(names).toEqual(['A.TXT;1', 'A_B.TXT;1', 'A_B.C;1', 'A1.TXT;1', 'README.;1', 'X'.repeat(28) + '.MD;1', 'X'.repeat(27) + '.MDX;1'].sort((a, b) => {
      const x = a.replace(/;1$/, ''), y = b.replace(/;1$/, '');
      return x < y ? -1 : x > y ? 1 : 0;
    }));
    for (const n of names) expect(n).toMatch(/^[A-Z0-9_]+\.[A-Z0-9_]*;1$/);
    expect(new Set(names).size).toBe(names.length);
  });
});
