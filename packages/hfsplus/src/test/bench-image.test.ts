/**
 * Writes the bench's decmpfs volume (bench/hfsplus.bench.mjs runs this with DISKIT_HFS_BENCH_IMAGE
 * set): one 256 MiB text file compressed as macOS does it (decmpfs type 4, zlib chunks in the
 * resource fork). Skipped otherwise.
 */
import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { buildHfs } from './build-hfs.js';
import { decmpfsXattr, zlibResourceFork } from './compress.js';

const out = process.env.DISKIT_HFS_BENCH_IMAGE;

it.skipIf(!out)('writes the 256 MiB decmpfs bench volume', () => {
  const size = 256 << 20;
  const data = new Uint8Array(size);
  // Log-like text lines: compresses about 4:1, like source code or logs.
  const line = new TextEncoder().encode('2026-12-01 08:00:00 node catalog extent fork leaf index header journal\n');
  for (let o = 0, n = 0; o < size; o += line.length, n++) {
    data.set(line.subarray(0, Math.min(line.length, size - o)), o);
    const tag = String(n % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 6 && o + 11 + i < size; i++) data[o + 11 + i] = tag.charCodeAt(i);
  }
  writeFileSync(out!, buildHfs('Bench', [{ name: 'big.log', compressed: true, rsrc: zlibResourceFork(data), xattrs: { 'com.apple.decmpfs': decmpfsXattr(4, size) } }]));
}, 600_000);
