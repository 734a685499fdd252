/**
 * Short dumps: partition tables whose entries lie past the end of the file (an SD card read only
 * in part). Every entry that parses is listed, as sfdisk and sgdisk list them; the ones past the
 * end are marked, and `check` warns about each.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';

const cli = resolve(__dirname, '../../cli/bin/diskit.js');
const diskit = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' });
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'diskit-short-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Listed { index: number; start: number; size: number; reachable?: boolean; truncated?: boolean }
const info = (img: string) => {
  const r = diskit('info', '--json', img);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { partitionScheme: string; partitions: (Listed & { type: string; name?: string })[] };
};
const checkWarnings = (img: string) => (JSON.parse(diskit('check', '--json', img).stdout) as { problems: { severity: string; message: string }[] }).problems.filter((p) => p.severity === 'warning').map((p) => p.message);

describeWithTools(['sfdisk', 'sgdisk'], 'partition entries past the end of a short dump', () => {
  it('MBR: primaries and the extended chain past the end are listed like sfdisk lists them, and marked', () => {
    const img = join(tmp, 'sd.img');
    run('truncate', ['-s', '64M', img]);
    run('sfdisk', ['-q', img], { input: 'label: dos\nstart=2048, size=16384, type=c\nstart=18432, size=40960, type=5\nstart=20480, size=8192, type=83\nstart=30720, size=8192, type=83\nstart=61440, size=4096, type=83\n' });
    // the dump stops after the first EBR (sector 18432) and before the second (28672)
    truncateSync(img, 19000 * 512);
    const theirs = (JSON.parse(run('sfdisk', ['-J', img])) as { partitiontable: { partitions: { node: string; start: number; size: number; type: string }[] } }).partitiontable.partitions;
    const ours = info(img);
    expect(ours.partitionScheme).toBe('mbr');
    const key = (p: { index: number; start: number; size: number; type: string }) => `${p.index} ${p.start} ${p.size} ${p.type}`;
    expect(ours.partitions.map((p) => key({ ...p, type: String(parseInt(p.type, 16).toString(16)) })).sort())
      .toEqual(theirs.map((p) => key({ index: Number(/(\d+)$/.exec(p.node)![1]), start: p.start * 512, size: p.size * 512, type: p.type })).sort());
    const by = new Map(ours.partitions.map((p) => [p.index, p]));
    expect(by.get(1)!.reachable).toBeUndefined();
    expect(by.get(2)!.truncated).toBe(true);
    expect(by.get(3)!.reachable).toBe(false);
    expect(by.get(5)!.reachable).toBe(false);
    const w = checkWarnings(img);
    expect(w.some((m) => /EBR at sector 28672 lies past the end/.test(m))).toBe(true);
    expect(w.some((m) => /partition 3 starts at byte 31457280, past the end/.test(m))).toBe(true);
    expect(w.some((m) => /partition 5 starts at byte 10485760, past the end/.test(m))).toBe(true);
    // asking for a partition that is not in the file is an image problem, named
    const r = diskit('ls', '--partition', '5', img);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/TruncatedImageError: partition 5 at offset 10485760: expected 4194304 bytes within the file, found file size 9728000/);
  });

  it('GPT: entries past the end are listed like sgdisk -p lists them, and marked', () => {
    const img = join(tmp, 'g.img');
    run('truncate', ['-s', '64M', img]);
    run('sgdisk', ['-n', '1:2048:+8M', '-t', '1:ef00', '-c', '1:EFI', '-n', '2:0:+20M', '-c', '2:root', '-n', '3:0:0', '-c', '3:data', img]);
    truncateSync(img, 20 << 20);
    const rows = [...run('sgdisk', ['-p', img]).matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+\S+\s+(\S+)$/gm)].map((m) => ({ index: Number(m[1]), start: Number(m[2]) * 512, size: (Number(m[3]) - Number(m[2]) + 1) * 512, name: m[4] }));
    expect(rows.length).toBe(3);
    const ours = info(img);
    expect(ours.partitionScheme).toBe('gpt');
    expect(ours.partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, name: p.name }))).toEqual(rows);
    expect(ours.partitions.map((p) => [p.reachable, p.truncated])).toEqual([[undefined, undefined], [undefined, true], [false, undefined]]);
    const w = checkWarnings(img);
    expect(w.some((m) => /partition 2 ends at byte 30408704, past the end/.test(m))).toBe(true);
    expect(w.some((m) => /partition 3 starts at byte 30408704, past the end/.test(m))).toBe(true);
  });
});
