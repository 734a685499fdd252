/** OSTA CS0 strings (UDF 2.1.1), dstrings, entity identifiers and timestamps (ECMA-167 1/7.3). */

/** A CS0 compressed-unicode name: 8/254 = one byte per character, 16/255 = UTF-16BE. */
export function cs0(b: Uint8Array): string {
  if (b.length === 0) return '';
  const id = b[0]!;
  if (id === 8 || id === 254) {
    let s = '';
    for (let i = 1; i < b.length; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  if (id === 16 || id === 255) {
    let s = '';
    for (let i = 1; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
    return s;
  }
  return '';
}

/** A dstring: CS0 in a fixed field whose last byte is the used length. */
export function dstring(b: Uint8Array): string {
  const len = b[b.length - 1]!;
  return len === 0 || len > b.length - 1 ? '' : cs0(b.subarray(0, len));
}

/** An entity identifier's 23-byte identifier ("*OSTA UDF Compliant"), without padding. */
export function entityId(b: Uint8Array): string {
  let s = '';
  for (let i = 1; i < 24 && b[i] !== 0; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** A 12-byte timestamp, in its recorded time zone; undefined when unset or invalid. */
export function timestamp(b: Uint8Array): Date | undefined {
  const v = new DataView(b.buffer, b.byteOffset, 12);
  const typeTz = v.getUint16(0, true);
  const year = v.getInt16(2, true);
  const [month, day, hour, minute, second, cs, hus, us] = [b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, b[9]!, b[10]!, b[11]!];
  if (year === 0 && month === 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let tz = typeTz & 0xfff;
  if (tz & 0x800) tz -= 0x1000;
  const offsetMin = (typeTz >> 12) === 1 && tz !== -2047 ? tz : 0;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) + cs * 10 + hus / 10 + us / 1000 - offsetMin * 60_000;
  return Number.isFinite(ms) ? new Date(Math.round(ms)) : undefined;
}
