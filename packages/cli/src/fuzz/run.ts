import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MemoryDevice, type Structure } from '@diskit/core';
import { readPartitionTable } from '@diskit/raw';
import { defaultRegistry } from '../registry.js';
import type { BugReport, WorkerInput, WorkerSeed } from './worker.js';

export interface FuzzSeed {
  name: string;
  bytes: Uint8Array;
  /** Extra regions to aim at, beyond the structures inspect() reports (a filesystem's metadata). */
  targets?: { offset: number; size: number }[];
  /** 4 KiB blocks whose checksums half the cases recompute after mutating (APFS objects). */
  sealedBlocks?: number[];
}

export interface FuzzBug {
  kind: 'bug' | 'hang';
  index: number;
  seed: string;
  what: string;
  error: string;
  bytes?: Uint8Array;
}

export interface FuzzResult {
  cases: number;
  bugs: FuzzBug[];
  /** How the cases ended: 'ok' or a normalised typed-error message, with counts. */
  outcomes: Record<string, number>;
}

/** Every structure's (offset, size) from a seed's inspect() and partition table: where to aim mutations. */
async function targetsOf(seed: FuzzSeed): Promise<{ offset: number; size: number }[]> {
  const reg = defaultRegistry();
  const file = new MemoryDevice(seed.bytes, { readOnly: true });
  const out: { offset: number; size: number }[] = [...(seed.targets ?? [])];
  const add = (ss: Structure[]) => {
    for (const s of ss) {
      out.push({ offset: s.offset, size: Math.max(1, s.size) });
      if (s.children) add(s.children);
    }
  };
  try {
    const { driver } = await reg.detect(file, seed.name);
    const image = await driver.open(file, { name: seed.name });
    add((await image.inspect()).structures);
    if (image.format !== 'raw') add((await readPartitionTable(image).catch(() => ({ structures: [] }))).structures);
    // A filesystem that maps its own metadata (superblocks, tables, directories) is aimed at too.
    const vol = (await (await reg.detectFilesystem(image))?.mount(image).catch(() => undefined)) as { structures?: () => Promise<Structure[]> } | undefined;
    if (vol?.structures) add(await vol.structures().catch(() => []));
  } catch {
    /* a seed that does not open still gets random mutations */
  }
  return out.filter((t) => t.offset < seed.bytes.length).slice(0, 4096);
}

function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  // Under vitest this module runs from src/*.ts; the worker always runs the built JavaScript.
  return new URL(`file://${here.replace(/\/src\/fuzz\/run\.ts$/, '/dist/fuzz/run.js').replace(/run\.js$/, 'worker.js')}`);
}

/**
 * Run seeded mutation cases [0, cases) over `seeds` in a worker (or until `seconds` have passed).
 * A case that runs longer than `caseTimeoutMs` is a hang: the worker is stopped and restarted after it.
 */
export async function fuzz(seeds: FuzzSeed[], opts: { cases?: number; seconds?: number; baseSeed?: number; caseTimeoutMs?: number; onBug?: (b: FuzzBug) => void; selfTest?: 'hang' | 'alloc' } = {}): Promise<FuzzResult> {
  const workerSeeds: WorkerSeed[] = [];
  for (const s of seeds) workerSeeds.push({ ...s, targets: await targetsOf(s) });
  const deadline = opts.seconds ? Date.now() + opts.seconds * 1000 : Infinity;
  const total = opts.cases ?? Infinity;
  const timeout = opts.caseTimeoutMs ?? 10_000;
  const bugs: FuzzBug[] = [];
  const outcomes: Record<string, number> = {};
  let next = 0;
  const batch = 1000;

  while (next < total && Date.now() < deadline) {
    const first = next;
    const last = Math.min(total, first + batch);
    const progress = new Int32Array(new SharedArrayBuffer(4));
    progress[0] = first;
    const input: WorkerInput = { seeds: workerSeeds, first, last, baseSeed: opts.baseSeed ?? 1, progress, selfTest: opts.selfTest };
    next = await new Promise<number>((resolveBatch, reject) => {
      const w = new Worker(workerUrl(), { workerData: input, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 1024 } });
      let lastSeen = first;
      let since = Date.now();
      const timer = setInterval(() => {
        const cur = Atomics.load(progress, 0);
        if (cur !== lastSeen) {
          lastSeen = cur;
          since = Date.now();
        } else if (Date.now() - since > timeout) {
          clearInterval(timer);
          const seed = workerSeeds[cur % workerSeeds.length]!;
          const b: FuzzBug = { kind: 'hang', index: cur, seed: seed.name, what: `case ${cur}`, error: `no progress for ${timeout} ms` };
          bugs.push(b);
          opts.onBug?.(b);
          void w.terminate();
          resolveBatch(cur + 1);
        }
      }, 50);
      w.on('message', (m: BugReport | { type: 'done'; outcomes: Record<string, number> } | { type: 'fatal'; error: string }) => {
        if (m.type === 'bug') {
          const b: FuzzBug = { kind: 'bug', index: m.index, seed: m.seed, what: m.what, error: m.error, bytes: m.bytes };
          bugs.push(b);
          opts.onBug?.(b);
        } else if (m.type === 'done') {
          for (const [k, v] of Object.entries(m.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
          clearInterval(timer);
          void w.terminate();
          resolveBatch(last);
        } else {
          clearInterval(timer);
          void w.terminate();
          reject(new Error(`fuzz worker failed: ${m.error}`));
        }
      });
      w.on('error', (e) => {
        // A crash of the worker itself (e.g. out of memory) is a bug at the current case.
        clearInterval(timer);
        const cur = Atomics.load(progress, 0);
        const b: FuzzBug = { kind: 'bug', index: cur, seed: workerSeeds[cur % workerSeeds.length]!.name, what: `case ${cur}`, error: String(e?.stack ?? e) };
        bugs.push(b);
        opts.onBug?.(b);
        resolveBatch(cur + 1);
      });
    });
  }
  return { cases: Math.min(next, total), bugs, outcomes };
}

/** Rebuild the mutated bytes of case `index` (to save a regression fixture from a hang). */
export async function caseBytes(seeds: FuzzSeed[], index: number, baseSeed = 1): Promise<Uint8Array> {
  const { mutate, rng } = await import('./mutate.js');
  const seed = seeds[index % seeds.length]!;
  const m = mutate(seed.bytes, await targetsOf(seed), rng(baseSeed * 1_000_003 + index), Math.floor(index / seeds.length)).bytes;
  if (seed.sealedBlocks && index % 2 === 1) (await import('./apfs-seeds.js')).resealBlocks(m, seed.sealedBlocks);
  return m;
}
