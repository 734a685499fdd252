// Build the optional lseek helper with the system compiler and Node's headers. Never fails the
// build: without a compiler or headers diskit uses its pure-JS path.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const include = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node'].find((d) => existsSync(join(d, 'node_api.h')));
const out = join(here, '..', 'dist', 'seek.node');
if (process.platform !== 'linux' || !include) {
  console.log('diskit: native lseek helper skipped (no Node headers); using the pure-JS path');
} else {
  mkdirSync(dirname(out), { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', `-I${include}`, join(here, 'seek.c'), '-o', out], { stdio: 'inherit' });
  if (r.status !== 0) console.log('diskit: native lseek helper did not build; using the pure-JS path');
}
