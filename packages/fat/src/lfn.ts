/** VFAT long file names: runs of LFN entries before their short entry, bound to it by a checksum (spec §7). */

/** Offsets of the 13 UTF-16 code units inside an LFN entry. */
const CHAR_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
const LAST_LONG_ENTRY = 0x40;
const MAX_LFN_ENTRIES = 20;
const UNITS = new Uint16Array(13);

/** The checksum of an 11-byte short name that each of its LFN entries carries. */
export function lfnChecksum(shortName: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >>> 1) + shortName[i]!) & 0xff;
  return sum;
}

/**
 * Collects an LFN run as entries arrive in directory order (last part first). A run that breaks
 * off (wrong order, checksum change) is dropped: the short entry then keeps its 8.3 name.
 */
export class LfnCollector {
  private parts: string[] = [];
  private next = 0;
  private checksum = -1;
  /** LFN entries dropped as orphans since the last call to takeOrphans(). */
  orphans = 0;

  add(b: Uint8Array, off: number): void {
    const ord = b[off]!;
    const seq = ord & 0x1f;
    const sum = b[off + 13]!;
    if (ord & LAST_LONG_ENTRY) {
      this.drop();
      if (seq < 1 || seq > MAX_LFN_ENTRIES) {
        this.orphans++;
        return;
      }
      this.parts = new Array<string>(seq);
      this.checksum = sum;
    } else if (seq !== this.next || sum !== this.checksum || seq < 1) {
      this.drop();
      this.orphans++;
      return;
    }
    let n = 0;
    for (const c of CHAR_OFFSETS) {
      const u = b[off + c]! | (b[off + c + 1]! << 8);
      if (u === 0) break;
      UNITS[n++] = u;
    }
    this.parts[seq - 1] = String.fromCharCode.apply(null, UNITS.subarray(0, n) as unknown as number[]);
    this.next = seq - 1;
  }

  /** The long name for the short entry with raw name `raw`, or undefined (no run, incomplete, or checksum mismatch). */
  finish(raw: Uint8Array): string | undefined {
    if (this.checksum < 0) return undefined;
    const ok = this.next === 0 && this.checksum === lfnChecksum(raw);
    const name = ok ? this.parts.join('') : undefined;
    if (!ok) this.orphans += this.parts.length;
    this.reset();
    return name;
  }

  /** A non-LFN entry that is not a short name for this run (deleted entry, end): the run is orphaned. */
  drop(): void {
    if (this.checksum >= 0) this.orphans += this.parts.filter((p) => p !== undefined).length;
    this.reset();
  }

  private reset(): void {
    this.parts = [];
    this.next = 0;
    this.checksum = -1;
  }
}
