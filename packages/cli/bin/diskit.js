#!/usr/bin/env node
// The bundled CLI (dist/diskit.mjs) starts faster; dist/main.js is the same code, unbundled.
import { existsSync } from 'node:fs';

const entry = existsSync(new URL('../dist/diskit.mjs', import.meta.url)) ? '../dist/diskit.mjs' : '../dist/main.js';
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
