/**
 * Tests that need a real tool (qemu-img, 7z, xorriso…) use these. A missing tool skips the tests
 * with its name in the title, except under CI=true, where it fails them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const cache = new Map<string, boolean>();
export function hasTool(name: string): boolean {
  let ok = cache.get(name);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
    cache.set(name, ok);
  }
  return ok;
}

/** `describe` that needs every tool in `tools`. */
export function describeWithTools(tools: string[], title: string, fn: () => void): void {
  describeNeeding(tools.filter((t) => !hasTool(t)), title, fn);
}

/** `describe` that needs nothing from `missing` (tools, fixture folders): skip or, under CI, fail. */
export function describeNeeding(missing: string[], title: string, fn: () => void): void {
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(title, () => it(`needs ${missing.join(', ')}`, () => {
      throw new Error(`required tool(s) missing under CI: ${missing.join(', ')}`);
    }));
  } else {
    describe.skip(`${title} (skipped: ${missing.join(', ')} not installed)`, fn);
  }
}

/** Run a command, returning stdout as a string; throws with stderr on failure. */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string | Uint8Array } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * The shared real-world images (`../shared/test-images` beside the repository; `DISKIT_SHARED_IMAGES`
 * overrides; /work/shared/test-images when the repository is cloned elsewhere).
 */
export function sharedImagesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.DISKIT_SHARED_IMAGES, resolve(here, '../../shared/test-images'), '/work/shared/test-images'];
  return candidates.find((c): c is string => !!c && existsSync(c)) ?? resolve(here, '../../shared/test-images');
}
