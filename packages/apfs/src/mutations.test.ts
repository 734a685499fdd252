/**
 * Seeded mutations of containers with what the hdiutil seeds of the fuzz harness lack
 * (compressed files, resource forks, xattrs, hard links, several tree levels, a snapshot),
 * checksums resealed so the parsers behind them are reached: every case ends in success or a
 * typed error (DiskitError), and reads stay within the file.
 */
import { describe, it, expect } from 'vitest';
import { MemoryDevice, isDiskitError, walk, type Volume } from '@diskit/core';
import { apfsFilesystem, checksumOk, openDecmpfs, sealObject } from './index.js';
import { buildApfs, type Entry } from './test/build-container.js';
import { decmpfs, type Method } from './test/decmpfs-encode.js';

const BS = 4096;
const text = (s: string) => new TextEncoder().encode(s);
const body = text('The quick brown fox jumps over the lazy dog. '.repeat(3000));

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flip bits, set a field to an extreme, or copy a span over another. */
function mutate(b: Uint8Array, r: () => number, lo = 0, hi = b.length): void {
  const at = lo + Math.floor(r() * (hi - lo));
  const k = Math.floor(r() * 3);
  if (k === 0) for (let i = 0; i < 1 + r() * 6; i++) b[Math.min(b.length - 1, at + Math.floor(r() * 64))]! ^= 1 << Math.floor(r() * 8);
  else if (k === 1 && at + 8 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at & ~3, [0, 1, 0xffffffff, 0x10000, 0x7fffffff][Math.floor(r() * 5)]!, true);
  else {
    const from = lo + Math.floor(r() * (hi - lo));
    b.copyWithin(at, from, Math.min(b.length, from + 64));
  }
}

async function consume(vol: Volume): Promise<void> {
  let n = 0;
  for await (const e of walk(vol)) {
    if (++n > 5000) break;
    if (e.type !== 'file') continue;
    const f = await vol.openFile(e.path);
    if (f.size > 64 << 20) continue;
    await f.read(new Uint8Array(f.size), 0);
    for (const s of (await vol.streams?.(e.path)) ?? []) await vol.openStream!(e.path, s.name);
  }
}

const typed = (e: unknown) => {
  if (!isDiskitError(e)) throw e;
};

describe('seeded mutations', () => {
  it('decmpfs attributes and resource forks of every method: 3,000 cases, typed errors only', async () => {
    const methods: Method[] = ['raw-inline', 'zlib-inline', 'zlib-fork', 'lzvn-inline', 'lzvn-fork', 'lzfse-inline', 'lzfse-fork'];
    const r = rng(7);
    for (let i = 0; i < 3000; i++) {
      const m = methods[i % methods.length]!;
      const d = decmpfs(m.endsWith('fork') ? body : body.subarray(0, 3000), m);
      const attr = d.attr.slice(), fork = d.fork?.slice();
      if (fork && r() < 0.7) mutate(fork, r, 0, Math.min(fork.length, 256));
      else mutate(attr, r);
      try {
        const dev = await openDecmpfs(attr, async () => (fork ? new MemoryDevice(fork, { readOnly: true }) : undefined), 'case');
        if (dev.size <= 64 << 20) await dev.read(new Uint8Array(dev.size), 0);
      } catch (e) {
        typed(e);
      }
    }
  });

  it('a rich container, checksums resealed after each mutation: 600 cases, typed errors only', async () => {
    const entries: Entry[] = [
      { path: '/a.txt', type: 'file', data: text('hello'), xattrs: { 'user.x': text('attr') } },
      { path: '/d', type: 'directory' },
      { path: '/d/hard', type: 'file', linkTo: '/a.txt' },
      { path: '/link', type: 'symlink', target: 'a.txt' },
      { path: '/z1', type: 'file', decmpfs: decmpfs(body, 'zlib-fork') },
      { path: '/z2', type: 'file', decmpfs: decmpfs(body, 'lzvn-fork') },
      { path: '/z3', type: 'file', decmpfs: decmpfs(body.subarray(0, 2000), 'zlib-inline') },
    ];
    for (let i = 0; i < 200; i++) entries.push({ path: `/d/f${i}`, type: 'file', data: text(`file ${i}`) });
    const seed = buildApfs([{ name: 'M', entries, snapshots: [{ name: 's', entries: entries.slice(0, 4) }] }]);
    const sealed: number[] = [];
    for (let b = 0; b < seed.length / BS; b++) if (checksumOk(seed.subarray(b * BS, (b + 1) * BS))) sealed.push(b);
    expect(sealed.length).toBeGreaterThan(10);
    const r = rng(11);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const b = seed.slice();
      const blk = sealed[Math.floor(r() * sealed.length)]!;
      mutate(b, r, blk * BS + 32, (blk + 1) * BS);
      for (const s of sealed) sealObject(b.subarray(s * BS, (s + 1) * BS));
      let key = 'ok';
      try {
        await consume(await apfsFilesystem.mount(new MemoryDevice(b, { readOnly: true }), i % 5 === 0 ? { snapshot: 's' } : {}));
      } catch (e) {
        typed(e);
        key = (e as Error).name;
      }
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    // Both outcomes happen: the mutations reach past the checksums and some still read.
    expect(outcomes.get('CorruptImageError')).toBeGreaterThan(20);
    expect(outcomes.get('ok')).toBeGreaterThan(20);
  });
});
