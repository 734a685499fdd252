/** Deterministic mutations of a seed image, aimed at its structures. */

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A region of the seed worth aiming at: a header or table from inspect(). */
export interface Target {
  offset: number;
  size: number;
}

export interface Mutation {
  bytes: Uint8Array;
  what: string;
}

const SPECIAL_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x200, 0x1000];

/** Every structure boundary of a seed (start, end, and one byte either side), sorted: where truncation bites. */
export function boundaries(seedLength: number, targets: Target[]): number[] {
  const cuts = new Set<number>();
  for (const t of targets) for (const c of [t.offset, t.offset + 1, t.offset + t.size - 1, t.offset + t.size]) if (c > 0 && c < seedLength) cuts.add(c);
  return [...cuts].sort((a, b) => a - b);
}

/**
 * One mutated copy of `seed`. The first cases of each seed (`sweep` < number of boundaries)
 * truncate it at every structure boundary in turn; after that, mutations are random. Kinds: truncation (at a structure boundary or anywhere), bit flips,
 * 32/64-bit fields set to 0, the file size, past it, 2^32−1, 2^53−1 (both byte orders), a structure
 * copied over another (duplicated references), random bytes.
 */
export function mutate(seed: Uint8Array, targets: Target[], random: () => number, sweep = Infinity): Mutation {
  const cutPoints = boundaries(seed.length, targets);
  if (sweep < cutPoints.length) return { bytes: seed.slice(0, cutPoints[sweep]), what: `truncate at boundary ${cutPoints[sweep]}` };
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const int = (n: number) => Math.floor(random() * n);
  const inSeed = targets.filter((t) => t.offset >= 0 && t.offset < seed.length);
  const target = (): Target => (inSeed.length && random() < 0.85 ? pick(inSeed) : { offset: 0, size: seed.length });
  const posIn = (t: Target) => Math.min(seed.length - 1, t.offset + int(Math.max(1, Math.min(t.size, seed.length - t.offset))));
  const kind = int(6);

  if (kind === 0) {
    const cuts = inSeed.flatMap((t) => [t.offset, t.offset + t.size, t.offset + 1, t.offset + t.size - 1]).filter((c) => c > 0 && c < seed.length);
    const cut = cuts.length && random() < 0.7 ? pick(cuts) : int(seed.length);
    return { bytes: seed.slice(0, cut), what: `truncate at ${cut}` };
  }
  const bytes = seed.slice();
  const view = new DataView(bytes.buffer);
  if (kind === 1) {
    const t = target();
    const flips = 1 + int(8);
    const at: number[] = [];
    for (let i = 0; i < flips; i++) {
      const p = posIn(t);
      bytes[p]! ^= 1 << int(8);
      at.push(p);
    }
    return { bytes, what: `bit flips at ${at.join(',')}` };
  }
  if (kind === 2 || kind === 3) {
    const t = target();
    const p = Math.min(posIn(t) & ~3, bytes.length - 8);
    if (p < 0) return { bytes, what: 'none (too small)' };
    const le = random() < 0.5;
    if (kind === 2) {
      const v = pick([...SPECIAL_32, seed.length, seed.length + 1, seed.length >>> 9, (seed.length >>> 9) + 1, int(0x100000000)]) >>> 0;
      view.setUint32(p, v, le);
      return { bytes, what: `u32${le ? 'le' : 'be'} at ${p} = ${v}` };
    }
    const v = pick([0n, BigInt(seed.length), BigInt(seed.length) * 2n, 0xffffffffn, 2n ** 53n - 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(int(0x100000000)) << 9n]);
    view.setBigUint64(p, v, le);
    return { bytes, what: `u64${le ? 'le' : 'be'} at ${p} = ${v}` };
  }
  if (kind === 4 && inSeed.length >= 2) {
    const a = pick(inSeed);
    const b = pick(inSeed);
    const n = Math.min(a.size, b.size, seed.length - a.offset, seed.length - b.offset, 4096);
    bytes.copyWithin(b.offset, a.offset, a.offset + n);
    return { bytes, what: `copy ${n} bytes from ${a.offset} over ${b.offset}` };
  }
  const t = target();
  const p = posIn(t);
  const n = Math.min(1 + int(16), bytes.length - p);
  for (let i = 0; i < n; i++) bytes[p + i] = int(256);
  return { bytes, what: `random ${n} bytes at ${p}` };
}
