// Bundle the CLI into one file: Node's ESM loader spends ~30-60 ms resolving and loading ~80
// modules at every start (measured), the bundle loads in ~13 ms. bin/diskit.js prefers it.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/main.js'],
  outfile: 'dist/diskit.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The optional native lseek helper stays a separate file, found through @diskit/core's package.
  // xz-decompress (UMD, requires stream/web) stays a package: the DMG codec workers load it by path too.
  external: ['*.node', 'xz-decompress'],
  logLevel: 'warning',
});
