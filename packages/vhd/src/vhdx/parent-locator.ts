/**
 * The VHDX parent locator metadata item: a locator type GUID and UTF-16LE key/value pairs
 * (parent_linkage, relative_path, absolute_win32_path, volume_path, …).
 */
import { ByteWriter, CorruptImageError, guidToBytes, guidToString } from '@diskit/core';
import { baseName, encodeUtf16, utf16, windowsRelative } from '../util.js';

/** Locator type of a VHDX parent. */
export const VHDX_PARENT_TYPE = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

export interface VhdxParentLocator {
  type: string;
  entries: Record<string, string>;
}

export function parseParentLocator(b: Uint8Array, offset: number): VhdxParentLocator {
  if (b.length < 20) throw new CorruptImageError('VHDX parent locator', offset, 'at least 20 bytes', String(b.length));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint16(18, true);
  if (20 + count * 12 > b.length) throw new CorruptImageError('VHDX parent locator', offset, `room for ${count} entries`, `${b.length} bytes`);
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const o = 20 + i * 12;
    const ko = dv.getUint32(o, true), vo = dv.getUint32(o + 4, true), kl = dv.getUint16(o + 8, true), vl = dv.getUint16(o + 10, true);
    if (ko + kl > b.length || vo + vl > b.length) throw new CorruptImageError('VHDX parent locator', offset + o, 'keys and values inside the item', `key ${ko}+${kl}, value ${vo}+${vl}`);
    entries[utf16(b.subarray(ko, ko + kl), true)] = utf16(b.subarray(vo, vo + vl), true);
  }
  return { type: guidToString(b, 0), entries };
}

export function encodeParentLocator(entries: Record<string, string>): Uint8Array {
  const keys = Object.keys(entries);
  const parts: Uint8Array[] = [];
  let at = 20 + keys.length * 12;
  const table: number[][] = [];
  for (const k of keys) {
    const kb = encodeUtf16(k, true), vb = encodeUtf16(entries[k]!, true);
    table.push([at, at + kb.length, kb.length, vb.length]);
    parts.push(kb, vb);
    at += kb.length + vb.length;
  }
  const w = new ByteWriter(at);
  w.bytesAt(0, guidToBytes(VHDX_PARENT_TYPE)).u16le(18, keys.length);
  table.forEach(([ko, vo, kl, vl], i) => w.u32le(20 + i * 12, ko!).u32le(24 + i * 12, vo!).u16le(28 + i * 12, kl!).u16le(30 + i * 12, vl!));
  let p = 20 + keys.length * 12;
  for (const part of parts) {
    w.bytesAt(p, part);
    p += part.length;
  }
  return w.bytes;
}

/** The DataWriteGuids a parent may have (parent_linkage, parent_linkage2), upper case without braces. */
export function parentLinkage(e: Record<string, string>): string[] {
  return [e.parent_linkage, e.parent_linkage2].filter(Boolean).map((g) => g!.replace(/[{}]/g, '').toUpperCase());
}

/** Names to try for the parent, best first: relative_path, then the absolute paths (by file name when Windows-absolute). */
export function parentNames(e: Record<string, string>): string[] {
  const names: string[] = [];
  if (e.relative_path) names.push(windowsRelative(e.relative_path));
  for (const k of ['absolute_win32_path', 'volume_path']) {
    const v = e[k];
    if (!v) continue;
    names.push(/^[A-Za-z]:\\|^\\\\/.test(v) ? baseName(v) : v.replace(/\\/g, '/'));
  }
  return names;
}
