/** FAT directory entries: the 32-byte short (8.3) entry, its attributes, times and NT case flags (spec §6). */

export const ENTRY_SIZE = 32;
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f;
/** Byte 12 (NTRes): Windows NT keeps an all-lower-case base name / extension as a flag, not an LFN. */
export const NT_LOWER_BASE = 0x08;
export const NT_LOWER_EXT = 0x10;

export const DELETED = 0xe5;

/** OEM code pages for bytes 0x80–0xFF of short names: 437 (DOS US, Linux's default) and 850 (DOS Western Europe, mtools' default). */
export type CodePage = 437 | 850;
const CP437_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ';

export interface ShortEntry {
  /** The 11 name bytes as stored (0x05 in byte 0 already turned back into 0xE5). */
  raw: Uint8Array;
  name: string;
  attributes: number;
  ntFlags: number;
  firstCluster: number;
  size: number;
  mtime?: Date;
  ctime?: Date;
  atime?: Date;
}

const CP850_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈıÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u00ad±‗¾¶§÷¸°¨·¹³²■\u00a0';
const HIGH: Record<CodePage, string> = { 437: CP437_HIGH, 850: CP850_HIGH };

function oemChar(b: number, cp: CodePage = 437): string {
  return b < 0x80 ? String.fromCharCode(b) : HIGH[cp][b - 0x80]!;
}

/** Bytes [from, to) in the OEM code page: one fromCharCode call when all are ASCII. */
function oemText(raw: Uint8Array, from: number, to: number, cp: CodePage): string {
  let ascii = true;
  for (let i = from; i < to; i++) if (raw[i]! >= 0x80) ascii = false;
  if (ascii) return String.fromCharCode.apply(null, raw.subarray(from, to) as unknown as number[]);
  let s = '';
  for (let i = from; i < to; i++) s += oemChar(raw[i]!, cp);
  return s;
}

/** The 8.3 name as displayed: "NAME.EXT", lower-cased where the NT flags say so. */
export function shortName(raw: Uint8Array, ntFlags: number, cp: CodePage = 437): string {
  let baseEnd = 8;
  while (baseEnd > 0 && raw[baseEnd - 1] === 0x20) baseEnd--;
  let extEnd = 11;
  while (extEnd > 8 && raw[extEnd - 1] === 0x20) extEnd--;
  let base = oemText(raw, 0, baseEnd, cp);
  if (raw[0] === 0x05 && baseEnd > 0) base = oemChar(0xe5, cp) + base.slice(1);
  let ext = oemText(raw, 8, extEnd, cp);
  if (ntFlags & NT_LOWER_BASE) base = base.toLowerCase();
  if (ntFlags & NT_LOWER_EXT) ext = ext.toLowerCase();
  return ext ? `${base}.${ext}` : base;
}

/** A volume label: all 11 bytes, no dot, trailing spaces dropped. */
export function labelText(raw: Uint8Array, cp: CodePage = 437): string {
  return oemText(raw, 0, 11, cp).replace(/ +$/, '');
}

/** A DOS date and time (local time as stored: returned as that wall-clock time in UTC), or undefined when unset or invalid. */
export function dosTime(date: number, time: number, hundredths = 0): Date | undefined {
  if (date === 0) return undefined;
  const day = date & 31;
  const month = (date >>> 5) & 15;
  const year = 1980 + (date >>> 9);
  const sec = (time & 31) * 2;
  const min = (time >>> 5) & 63;
  const hour = time >>> 11;
  if (day < 1 || month < 1 || month > 12 || hour > 23 || min > 59 || sec > 59) return undefined;
  return new Date(Date.UTC(year, month - 1, day, hour, min, sec) + hundredths * 10);
}

/** Decode the short entry at `off` of a directory buffer. */
export function parseShortEntry(b: Uint8Array, off: number, cp: CodePage = 437): ShortEntry {
  const u16 = (at: number) => b[off + at]! | (b[off + at + 1]! << 8);
  const ntFlags = b[off + 12]!;
  const tenths = b[off + 13]!;
  const raw = b.subarray(off, off + 11);
  return {
    raw,
    name: shortName(raw, ntFlags, cp),
    attributes: b[off + 11]!,
    ntFlags,
    firstCluster: u16(20) * 65536 + u16(26),
    size: (u16(28) + u16(30) * 65536),
    ctime: dosTime(u16(16), u16(14), tenths <= 199 ? tenths : 0),
    atime: dosTime(u16(18), 0),
    mtime: dosTime(u16(24), u16(22)),
  };
}

/** The attribute flags by name, for FileEntry.attributes. */
export function attributeNames(a: number): string[] {
  const out: string[] = [];
  if (a & ATTR_READ_ONLY) out.push('readonly');
  if (a & ATTR_HIDDEN) out.push('hidden');
  if (a & ATTR_SYSTEM) out.push('system');
  if (a & ATTR_ARCHIVE) out.push('archive');
  return out;
}
