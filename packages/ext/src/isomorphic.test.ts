/** @diskit/ext bundled for the browser (no node: imports) reads a mke2fs image in a bare V8 context. */
import { it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync, rmSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { describeWithTools } from '../../../test/tools.js';
import { tempDir, mkfs, pseudoRandom, sha256 } from './test/fixtures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const esbuild = createRequire(join(root, 'packages/cli/package.json'))('esbuild') as typeof import('esbuild');

describeWithTools(['mke2fs'], 'ext is isomorphic', () => {
  it('bundles for the browser without Node built-ins and lists and reads an ext4 image there', async () => {
    const out = await esbuild.build({
      stdin: { contents: `export * as core from '@diskit/core'; export * as ext from '@diskit/ext';`, resolveDir: join(root, 'packages/cli'), loader: 'ts' },
      bundle: true, platform: 'browser', format: 'iife', globalName: 'diskit', conditions: ['diskit-source'], write: false, logLevel: 'silent',
    });
    const code = out.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:|from ["']node:/);
    const dir = tempDir('ext-iso');
    try {
      mkdirSync(join(dir, 'src/d'), { recursive: true });
      writeFileSync(join(dir, 'src/d/data.bin'), pseudoRandom(200_000, 3));
      symlinkSync('d/data.bin', join(dir, 'src/link'));
      mkfs(join(dir, 'e.img'), join(dir, 'src'), ['-t', 'ext4', '-b', '1024'], '4M');
      const image = new Uint8Array(readFileSync(join(dir, 'e.img')));
      const body = `
        const { core, ext } = diskit;
        const vol = await ext.filesystems[0].mount(new core.MemoryDevice(image, { readOnly: true }));
        const names = [];
        for await (const e of core.walk(vol)) names.push(e.path + (e.target ? ' -> ' + e.target : ''));
        const dev = await vol.openFile('/d/data.bin');
        const data = new Uint8Array(dev.size);
        await dev.read(data, 0);
        return { names, data };`;
      const sandbox = { image, TextEncoder, TextDecoder, setTimeout, queueMicrotask, console };
      const r = (await runInNewContext(`${code};\n(async () => { ${body} })()`, sandbox, { timeout: 30_000 })) as { names: string[]; data: Uint8Array };
      expect(r.names.sort()).toEqual(['/d', '/d/data.bin', '/link -> d/data.bin', '/lost+found']);
      expect(sha256(r.data)).toBe(sha256(pseudoRandom(200_000, 3)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
