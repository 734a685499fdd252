/** $REPARSE_POINT: symlinks and junctions become symlinks; other tags are named. */
import { CorruptImageError } from '@diskit/core';
import { u16, u32, utf16 } from './bytes.js';

export const TAG_MOUNT_POINT = 0xa0000003;
export const TAG_SYMLINK = 0xa000000c;
export const TAG_WOF = 0x80000017;
export const TAG_DEDUP = 0x80000013;

const TAG_NAMES: Record<number, string> = {
  [TAG_MOUNT_POINT]: 'junction', [TAG_SYMLINK]: 'symlink', [TAG_WOF]: 'wof', [TAG_DEDUP]: 'dedup',
  0x9000001a: 'onedrive', 0x9000101a: 'onedrive', 0x9000201a: 'onedrive', 0x8000001b: 'appexeclink', 0x80000023: 'af_unix', 0x80000024: 'lx_fifo',
};
const WOF_CODECS = ['XPRESS4K', 'LZX', 'XPRESS8K', 'XPRESS16K'];

export interface ReparsePoint {
  tag: number;
  kind: string;
  /** Symlinks and junctions: where they point, `/`-separated. */
  target?: string;
  /** WOF-compressed files: the codec. */
  codec?: string;
}

export function parseReparsePoint(b: Uint8Array, offset: number): ReparsePoint {
  if (b.length < 8) throw new CorruptImageError('NTFS reparse point', offset, 'at least 8 bytes', String(b.length));
  const tag = u32(b, 0);
  const rp: ReparsePoint = { tag, kind: TAG_NAMES[tag] ?? `0x${tag.toString(16)}` };
  if (tag === TAG_SYMLINK || tag === TAG_MOUNT_POINT) {
    const buf = tag === TAG_SYMLINK ? 20 : 16;
    const subOff = u16(b, 8), subLen = u16(b, 10), printOff = u16(b, 12), printLen = u16(b, 14);
    const pick = printLen ? [printOff, printLen] : [subOff, subLen];
    if (buf + pick[0]! + pick[1]! > b.length || pick[1]! & 1) throw new CorruptImageError('NTFS reparse point', offset, 'a target inside the data', `${pick[1]} bytes at ${pick[0]}`);
    let t = utf16(b, buf + pick[0]!, pick[1]! / 2);
    if (t.startsWith('\\??\\')) t = t.slice(4);
    rp.target = t.replace(/\\/g, '/');
  } else if (tag === TAG_WOF && b.length >= 24) {
    // WOF header (version, provider); provider 2 is the file provider with its own version and codec.
    if (u32(b, 12) === 2) rp.codec = WOF_CODECS[u32(b, 20)] ?? `codec ${u32(b, 20)}`;
    else rp.codec = `provider ${u32(b, 12)}`;
  }
  return rp;
}

const INTERIX_MAGIC = 'IntxLNK\u0001';

/** An Interix symlink (what ntfs-3g writes for `ln -s` by default): a system file "IntxLNK\1" + UTF-16 target. */
export function parseInterixSymlink(data: Uint8Array): string | undefined {
  if (data.length < 10 || data.length & 1 || String.fromCharCode(...data.subarray(0, 8)) !== INTERIX_MAGIC) return undefined;
  return utf16(data, 8, (data.length - 8) / 2);
}
