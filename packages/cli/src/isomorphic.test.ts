/**
 * The format packages claim to be isomorphic: no Node built-ins outside their `/node` entries.
 * Here they are bundled for the browser (which fails on any node: import) and run in a bare V8
 * context that has no process, require, Buffer or fs: a DMG and a VHD are written and read back,
 * an ISO built under Node is mounted and read, and so is the exFAT fixture (walked, read, checked).
 */
import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { MemoryDevice } from '@diskit/core';
import { buildIso } from '@diskit/iso9660/node';
import { buildApfs } from '../../apfs/src/test/build-container.js';
import { decmpfs } from '../../apfs/src/test/decmpfs-encode.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const esbuild = createRequire(join(root, 'packages/cli/package.json'))('esbuild') as typeof import('esbuild');

const ENTRY = `
  export * as core from '@diskit/core';
  export * as raw from '@diskit/raw';
  export * as vhd from '@diskit/vhd';
  export * as dmg from '@diskit/dmg';
  export * as iso from '@diskit/iso9660';
  export * as fat from '@diskit/fat';
  export * as apfs from '@diskit/apfs';
`;

async function browserBundle(): Promise<string> {
  const out = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: join(root, 'packages/cli'), loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'diskit',
    conditions: ['diskit-source'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

/** Runs the bundle and `body` in a context with only what a browser page would also have. */
function inBareContext(code: string, body: string, inputs: Record<string, unknown>): Promise<unknown> {
  const sandbox: Record<string, unknown> = {
    ...inputs,
    crypto: globalThis.crypto,
    TextEncoder,
    TextDecoder,
    setTimeout,
    queueMicrotask,
    console,
  };
  return runInNewContext(`${code};\n(async () => { ${body} })()`, sandbox, { timeout: 30_000 }) as Promise<unknown>;
}

describe('isomorphic packages (browser bundle in a bare context)', () => {
  it('bundle for the browser without Node built-ins, and write and read DMG, VHD, sparse images and bundles, and ISO there', async () => {
    const code = await browserBundle();
    expect(code).not.toMatch(/require\(["']node:|from ["']node:/);

    const dir = mkdtempSync(join(tmpdir(), 'diskit-iso-'));
    try {
      mkdirSync(join(dir, 'docs'));
      writeFileSync(join(dir, 'docs', 'readme.txt'), 'read me in a browser\n');
      const isoSink = new MemoryDevice(0, { growable: true });
      await buildIso(dir, isoSink, { rockRidge: true, joliet: true });

      const disk = new Uint8Array(3 << 20);
      disk.fill(0x61, 4096, 300_000);
      for (let i = 2 << 20; i < disk.length; i++) disk[i] = (i * 2654435761) >>> 24;

      // An APFS container with a zlib-compressed file (decmpfs in the resource fork).
      const apfsBytes = buildApfs([{ name: 'B', entries: [{ path: '/z', type: 'file', decmpfs: decmpfs(new TextEncoder().encode('apfs in a browser '.repeat(5000)), 'zlib-fork') }] }]);
      const result = (await inBareContext(code, `
        const { core, vhd, dmg, iso, fat, apfs } = diskit;
        const out = {};
        out.hasProcess = typeof process !== 'undefined';
        out.codecs = dmg.codecs().name;
        const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
        for (const compression of ['zlib', 'bzip2', 'raw']) {
          const sink = new core.MemoryDevice(0, { growable: true });
          await dmg.createDmg(new core.MemoryDevice(disk), sink, { options: { compression } });
          const img = await dmg.DmgImage.open(new core.MemoryDevice(sink.bytes.slice()));
          const back = new Uint8Array(img.size);
          await img.read(back, 0);
          out['dmg-' + compression] = same(back, disk) && (await img.check()).problems.length === 0;
        }
        for (const d of vhd.formats) {
          const sink = new core.MemoryDevice(0, { growable: true });
          await d.create(new core.MemoryDevice(disk), sink, { options: {} });
          const img = await d.open(new core.MemoryDevice(sink.bytes.slice()));
          const back = new Uint8Array(disk.length);
          await img.read(back, 0);
          out[d.name] = same(back, disk);
        }
        {
          const sink = new core.MemoryDevice(0, { growable: true });
          await dmg.createSparseImage(new core.MemoryDevice(disk), sink, { options: { 'band-size': '64k' } });
          const img = await dmg.SparseImage.open(new core.MemoryDevice(sink.bytes.slice()));
          const back = new Uint8Array(img.size);
          await img.read(back, 0);
          out.sparseimage = same(back, disk);
          // A sparse bundle written into memory and read back as the File set a browser gives.
          const files = new Map();
          await dmg.createSparseBundle(new core.MemoryDevice(disk), {
            async create(path) {
              const dev = new core.MemoryDevice(0, { growable: true });
              files.set(path, dev);
              return Object.assign(dev, { close: async () => {} });
            },
          }, { options: { 'band-size': '1m' } });
          const blobs = new Map([...files].map(([p, d]) => [p, { size: d.size, slice: (s, e) => ({ arrayBuffer: async () => d.bytes.slice(s, e).buffer }) }]));
          const bundle = await dmg.SparseBundleImage.open(core.fileSetSource('x.sparsebundle', blobs));
          const back2 = new Uint8Array(bundle.size);
          await bundle.read(back2, 0);
          out.sparsebundle = same(back2, disk) && [...files.keys()].filter((p) => p.startsWith('bands/')).sort().join() === 'bands/0,bands/2';
        }
        const vol = await iso.IsoVolume.mount(new core.MemoryDevice(isoBytes));
        const names = [];
        for await (const e of core.walk(vol)) names.push(e.path);
        const f = await vol.openFile('/docs/readme.txt');
        const text = new Uint8Array(f.size);
        await f.read(text, 0);
        out.iso = names.join(',') + ':' + new TextDecoder().decode(text);
        const exfatDriver = fat.filesystems.find((d) => d.name === 'exfat');
        const xv = await exfatDriver.mount(new core.MemoryDevice(exfatBytes));
        let count = 0;
        for await (const e of core.walk(xv)) count++;
        const h = await xv.openFile('/hello.txt');
        const hb = new Uint8Array(h.size);
        await h.read(hb, 0);
        out.exfat = count + ':' + new TextDecoder().decode(hb) + ':' + (await xv.check()).problems.length;
        const av = await apfs.filesystems[0].mount(new core.MemoryDevice(apfsBytes));
        const z = await av.openFile('/z');
        const zt = new Uint8Array(z.size);
        await z.read(zt, 0);
        out.apfs = (await av.readdir('/')).map((e) => e.path).join(',') + ':' + new TextDecoder().decode(zt).length;
        return out;
      `, { disk, isoBytes: isoSink.bytes.slice(), exfatBytes: new Uint8Array(gunzipSync(readFileSync(join(root, 'test-images/exfat/small.img.gz')))), apfsBytes })) as Record<string, unknown>;

      expect(result).toEqual({
        hasProcess: false,
        codecs: 'fflate',
        'dmg-zlib': true,
        'dmg-bzip2': true,
        'dmg-raw': true,
        vhd: true,
        vhdx: true,
        sparseimage: true,
        sparsebundle: true,
        iso: '/docs,/docs/readme.txt:read me in a browser\n',
        exfat: '329:hello, world\n:0',
        apfs: '/z:90000',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
