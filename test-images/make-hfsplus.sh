#!/bin/sh
# Rewrites test-images/hfsplus/compressed.hfs.gz: the HFS+ volume the decmpfs test builds (every
# decmpfs type, forks, attributes, hard links), kept as the fuzz harness's HFS+ seed. Needs 7z and
# the shared images (for Apple's LZFSE streams). Run from the repository root.
set -e
DISKIT_WRITE_FIXTURES=1 pnpm exec vitest run packages/hfsplus/src/decmpfs.test.ts
ls -l test-images/hfsplus/compressed.hfs.gz
