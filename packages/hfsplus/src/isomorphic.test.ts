/** @diskit/hfsplus claims to be isomorphic: bundled for the browser, it reads a volume in a bare V8 context. */
import { expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { gunzipSync } from 'node:zlib';
import { MemoryDevice } from '@diskit/core';
import { HfsVolume } from './hfs-volume.js';
import { volumeHashes } from './test/judge.js';

const root = join(__dirname, '../../..');
const esbuild = createRequire(join(root, 'packages/cli/package.json'))('esbuild') as typeof import('esbuild');
const fixture = new Uint8Array(gunzipSync(readFileSync(join(root, 'test-images/hfsplus/compressed.hfs.gz'))));

it('bundles without Node built-ins and reads every file (zlib, LZVN, LZFSE, forks) in a bare context', async () => {
  const out = await esbuild.build({
    stdin: { contents: `export * as core from '@diskit/core'; export * as hfs from '@diskit/hfsplus';`, resolveDir: join(root, 'packages/cli'), loader: 'ts' },
    bundle: true, platform: 'browser', format: 'iife', globalName: 'diskit', conditions: ['diskit-source'], write: false, logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.text;
  expect(code).not.toMatch(/require\(["']node:|from ["']node:/);
  const sizes = (await runInNewContext(`${code};\n(async () => {
    const { core, hfs } = diskit;
    const vol = await hfs.HfsVolume.mount(new core.MemoryDevice(bytes));
    const out = {};
    for await (const e of core.walk(vol)) {
      if (e.type !== 'file') continue;
      const dev = await vol.openFile(e.path);
      const b = new Uint8Array(dev.size);
      await dev.read(b, 0);
      let sum = 0;
      for (let i = 0; i < b.length; i++) sum = (sum * 31 + b[i]) >>> 0;
      out[e.path] = b.length + ':' + sum;
    }
    return { hasProcess: typeof process !== 'undefined', out };
  })()`, { bytes: fixture.slice(), TextEncoder, TextDecoder, console }, { timeout: 30_000 })) as { hasProcess: boolean; out: Record<string, string> };
  expect(sizes.hasProcess).toBe(false);
  // The same bytes as in Node.
  const vol = await HfsVolume.mount(new MemoryDevice(fixture.slice()));
  const want: Record<string, string> = {};
  for (const path of (await volumeHashes(vol)).keys()) {
    const dev = await vol.openFile(path);
    const b = new Uint8Array(dev.size);
    await dev.read(b, 0);
    let sum = 0;
    for (let i = 0; i < b.length; i++) sum = (sum * 31 + b[i]!) >>> 0;
    want[path] = `${b.length}:${sum}`;
  }
  expect(sizes.out).toEqual(want);
  expect(Object.keys(want).length).toBe(14);
});
