/**
 * Runs fuzz cases for one format inside a worker thread, so the parent can stop a hung case.
 * Typed-array and ArrayBuffer constructors are capped first: an allocation larger than the cap
 * (derived from the file size) is a bug, like a crash or a hang.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface WorkerSeed {
  name: string;
  bytes: Uint8Array;
  targets: { offset: number; size: number }[];
  sealedBlocks?: number[];
}
export interface WorkerInput {
  seeds: WorkerSeed[];
  first: number;
  last: number;
  baseSeed: number;
  progress: Int32Array;
  /** Harness self-test: add a driver that hangs or over-allocates, to prove both are caught. */
  selfTest?: 'hang' | 'alloc';
}
export interface BugReport {
  type: 'bug';
  index: number;
  seed: string;
  what: string;
  error: string;
  bytes: Uint8Array;
}

class AllocationCapError extends Error {
  override name = 'AllocationCapError';
}

let cap = Infinity;
function capped<T extends abstract new (...a: never[]) => unknown>(Orig: T, bytesPer: number): T {
  const Base = Orig as unknown as new (...a: unknown[]) => object;
  const C = class extends Base {
    constructor(...a: unknown[]) {
      if (typeof a[0] === 'number' && a[0] * bytesPer > cap) {
        throw new AllocationCapError(`allocation of ${a[0] * bytesPer} bytes exceeds the cap of ${cap}`);
      }
      super(...a);
    }
    static [Symbol.hasInstance](x: unknown): boolean {
      return x instanceof Base;
    }
  };
  Object.defineProperty(C, 'name', { value: Orig.name });
  return C as unknown as T;
}
const g = globalThis as unknown as Record<string, unknown>;
g.ArrayBuffer = capped(ArrayBuffer, 1);
g.Uint8Array = capped(Uint8Array, 1);
g.Uint16Array = capped(Uint16Array, 2);
g.Uint32Array = capped(Uint32Array, 4);
g.Int32Array = capped(Int32Array, 4);
g.BigUint64Array = capped(BigUint64Array, 8);

async function main(): Promise<void> {
  const input = workerData as WorkerInput;
  // Imported after the caps are in place so every module sees the capped constructors.
  const { defaultRegistry } = await import('../registry.js');
  const { exercise } = await import('./exercise.js');
  const { mutate, rng } = await import('./mutate.js');
  const { resealBlocks } = await import('./apfs-seeds.js');
  const reg = defaultRegistry();
  if (input.selfTest) {
    const mode = input.selfTest;
    reg.formats.unshift({
      name: 'selftest', description: 'harness self-test', probe: () => 100,
      open: async () => {
        if (mode === 'alloc') new Uint8Array(1 << 30);
        for (;;) { /* a hang */ }
      },
    });
  }
  const errors = new Map<string, number>();
  for (let i = input.first; i < input.last; i++) {
    Atomics.store(input.progress, 0, i);
    const seed = input.seeds[i % input.seeds.length]!;
    const m = mutate(seed.bytes, seed.targets, rng(input.baseSeed * 1_000_003 + i), Math.floor(i / input.seeds.length));
    if (seed.sealedBlocks && i % 2 === 1) {
      resealBlocks(m.bytes, seed.sealedBlocks);
      m.what += ' (checksums resealed)';
    }
    cap = Math.max(64 << 20, m.bytes.length * 16);
    try {
      const err = await exercise(reg, m.bytes, seed.name);
      const key = err ? err.replace(/\d+/g, 'N').slice(0, 120) : 'ok';
      errors.set(key, (errors.get(key) ?? 0) + 1);
    } catch (e) {
      const err = e as Error;
      const report: BugReport = { type: 'bug', index: i, seed: seed.name, what: m.what, error: `${err?.name}: ${err?.message}\n${err?.stack ?? ''}`, bytes: m.bytes };
      parentPort!.postMessage(report);
    } finally {
      cap = Infinity;
    }
  }
  parentPort!.postMessage({ type: 'done', outcomes: Object.fromEntries(errors) });
}

main().catch((e) => parentPort!.postMessage({ type: 'fatal', error: String((e as Error)?.stack ?? e) }));
