#!/usr/bin/env node
// Run the pinned pnpm: a global one if it is the right version, else through npx (npm only).
import { spawnSync } from 'node:child_process';
const VERSION = '9.15.9';
const args = process.argv.slice(2);
const global = spawnSync('pnpm', ['--version'], { encoding: 'utf8', shell: false });
const cmd = global.status === 0 && global.stdout.trim() === VERSION ? ['pnpm', args] : ['npx', ['--yes', `pnpm@${VERSION}`, ...args]];
const r = spawnSync(cmd[0], cmd[1], { stdio: 'inherit' });
process.exit(r.status ?? 1);
