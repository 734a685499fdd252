#!/usr/bin/env node
// `npm run demo`: the main job on the bundled sample — convert a VHD to raw, print its partitions and files.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'diskit-demo-'));
const vhd = join(work, 'sample.vhd');
writeFileSync(vhd, gunzipSync(readFileSync(join(root, 'test-images/sample/sample.vhd.gz'))));
const img = join(work, 'sample.img');

let failed = false;
function diskit(...args) {
  console.log(`\n$ diskit ${args.join(' ')}`);
  const r = spawnSync(join(root, 'node_modules/.bin/diskit'), args, { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}

diskit('info', vhd);
diskit('convert', '-O', 'raw', vhd, img);
diskit('info', img);
diskit('ls', '-R', '-l', img);
console.log(`\n(files in ${work})`);
process.exit(failed ? 1 : 0);
