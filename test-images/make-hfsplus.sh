#!/bin/sh
# Rewrites the committed HFS+ fixtures (run from the repository root; needs 7z and the shared images):
# - test-images/hfsplus/compressed.hfs.gz: the volume the decmpfs test builds (every decmpfs type,
#   forks, attributes, hard links), the fuzz harness's HFS+ seed;
# - test-images/fuzz-regressions/hfsplus/*.bin.gz: the hostile test's crafted volumes (B-tree loops,
#   bad node sizes, a depth bomb, decmpfs size lies), replayed by the fuzz test.
set -e
DISKIT_WRITE_FIXTURES=1 pnpm exec vitest run packages/hfsplus/src/decmpfs.test.ts packages/hfsplus/src/hostile.test.ts
ls -l test-images/hfsplus/ test-images/fuzz-regressions/hfsplus/
