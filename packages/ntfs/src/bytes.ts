/** Little-endian field readers over a byte array (NTFS is little-endian throughout). */

export function u16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}
export function u32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}
/** A u64 as a Number; values past 2^53 come back as Infinity so range checks reject them. */
export function u64(b: Uint8Array, off: number): number {
  const hi = u32(b, off + 4);
  if (hi >= 0x200000) return Infinity;
  return hi * 0x1_0000_0000 + u32(b, off);
}
/** An MFT reference: the low 48 bits are the record number, the high 16 its sequence number. */
export function mftRef(b: Uint8Array, off: number): { record: number; seq: number } {
  return { record: u32(b, off) + u16(b, off + 4) * 0x1_0000_0000, seq: u16(b, off + 6) };
}
export function utf16(b: Uint8Array, off: number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) s += String.fromCharCode(u16(b, off + i * 2));
  return s;
}
/** NTFS time (100 ns ticks since 1601) as a Date; 0 means unset. */
export function ntfsTime(b: Uint8Array, off: number): Date | undefined {
  // Ticks pass 2^53: as a float they keep ~16 ns, plenty for a millisecond Date.
  const t = u32(b, off + 4) * 0x1_0000_0000 + u32(b, off);
  if (t === 0) return undefined;
  const d = new Date(Math.floor(t / 10_000) - 11_644_473_600_000);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
