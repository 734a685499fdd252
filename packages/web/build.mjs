// The page is static files: index.html, style.css, app.js (the page) and worker.js (all diskit
// work, off the page's thread). No server-side code; host dist/ anywhere.
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
cpSync('static', 'dist', { recursive: true });
await build({
  entryPoints: { app: 'src/app.ts', worker: 'src/worker.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
