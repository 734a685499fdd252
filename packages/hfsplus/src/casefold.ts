/**
 * HFS+ name order (TN1150 "Case-Insensitive String Comparison"): names compare by their UTF-16
 * units after case folding, where a few formatting characters are ignored and NUL sorts last.
 * HFSX volumes with binary comparison compare the raw units.
 *
 * Apple's table folds only characters of the Unicode 2.0 era that have no canonical
 * decomposition (decomposable ones never occur in HFS+ names, which are stored decomposed). It is
 * rebuilt here from that rule with the engine's own lower-case mapping, limited to the blocks the
 * table covers. Where the rebuilt order could differ from Apple's (rare scripts), a lookup that
 * misses falls back to scanning the folder, so a name is never reported missing because of it.
 */

/** Code point ranges whose upper-case letters the table folds. */
const FOLDED_RANGES: [number, number][] = [
  [0x0041, 0x005a], [0x00c0, 0x00de], [0x0100, 0x01f5], [0x0386, 0x03ab], [0x03e2, 0x03ef],
  [0x0400, 0x042f], [0x0460, 0x0481], [0x0490, 0x04bf], [0x04c1, 0x04c4], [0x04c7, 0x04c8],
  [0x04cb, 0x04cc], [0x04d0, 0x04eb], [0x04ee, 0x04f5], [0x04f8, 0x04f9], [0x0531, 0x0556],
  [0x10a0, 0x10c5], [0x2160, 0x216f], [0xff21, 0xff3a],
];
/** Ignored in comparisons: zero-width joiners, directional marks and overrides, the BOM. */
const IGNORED: [number, number][] = [[0x200c, 0x200f], [0x202a, 0x202e], [0x206a, 0x206f], [0xfeff, 0xfeff]];

let table: Uint16Array | undefined;

/** The fold of every UTF-16 unit: 0 for ignored units. */
export function foldTable(): Uint16Array {
  if (table) return table;
  const t = new Uint16Array(65536);
  for (let c = 0; c < 65536; c++) t[c] = c;
  for (const [a, b] of FOLDED_RANGES) {
    for (let c = a; c <= b; c++) {
      const ch = String.fromCharCode(c);
      const lower = ch.toLowerCase();
      if (lower.length === 1 && lower !== ch && ch.normalize('NFD') === ch) t[c] = lower.charCodeAt(0);
    }
  }
  for (const [a, b] of IGNORED) for (let c = a; c <= b; c++) t[c] = 0;
  t[0] = 0xffff;
  table = t;
  return t;
}

/** Fold a name for comparison: folded units with ignored ones dropped. */
export function foldName(units: Uint16Array): Uint16Array {
  const t = foldTable();
  const out = new Uint16Array(units.length);
  let n = 0;
  for (let i = 0; i < units.length; i++) {
    const f = t[units[i]!]!;
    if (f !== 0) out[n++] = f;
  }
  return out.subarray(0, n);
}

/**
 * Compare a name held big-endian in `b` (`len` units from `off`) with an already folded name,
 * HFS+ style (FastUnicodeCompare). Returns < 0, 0 or > 0.
 */
export function compareFolded(b: Uint8Array, off: number, len: number, folded: Uint16Array): number {
  const t = foldTable();
  let j = 0;
  for (let i = 0; i < len; i++) {
    const f = t[(b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!]!;
    if (f === 0) continue;
    if (j >= folded.length) return 1;
    const g = folded[j++]!;
    if (f !== g) return f < g ? -1 : 1;
  }
  return j < folded.length ? -1 : 0;
}

/** Binary (HFSX) comparison of a big-endian name in `b` with `units`. */
export function compareBinary(b: Uint8Array, off: number, len: number, units: Uint16Array): number {
  const n = Math.min(len, units.length);
  for (let i = 0; i < n; i++) {
    const c = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
    const u = units[i]!;
    if (c !== u) return c < u ? -1 : 1;
  }
  return len - units.length;
}
