/**
 * VHD parent locators: eight 24-byte entries in the dynamic header, each pointing at a platform-
 * specific spelling of the parent's path (W2ru/W2ku UTF-16LE, Wi2r/Wi2k ASCII, MacX a file URL).
 */
import { CorruptImageError, Parser, ascii, type BlockDevice } from '@diskit/core';
import { baseName, utf16, windowsRelative } from '../util.js';
import type { VhdDynamicHeader } from './dynamic-header.js';

export interface VhdParentLocator {
  platformCode: string;
  platformDataSpace: number;
  platformDataLength: number;
  platformDataOffset: number;
}

export const NO_LOCATOR = '\0\0\0\0';
export const EMPTY_LOCATOR: VhdParentLocator = { platformCode: NO_LOCATOR, platformDataSpace: 0, platformDataLength: 0, platformDataOffset: 0 };

export const locatorParser = new Parser()
  .endianness('big')
  .string('platformCode', { length: 4, encoding: 'latin1' })
  .uint32('platformDataSpace')
  .uint32('platformDataLength')
  .skip(4)
  .uint64('platformDataOffset');

/** Locators tried in this order (relative first: a moved pair of files still finds each other). */
const PLATFORM_ORDER = ['W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k'];

/** Candidate names for the parent, best first: the locators, then the header's parent name. */
export async function parentCandidates(file: BlockDevice, h: VhdDynamicHeader): Promise<{ source: string; name: string }[]> {
  const out: { source: string; name: string }[] = [];
  const locs = h.parentLocators.filter((l) => l.platformCode !== NO_LOCATOR && l.platformDataLength > 0);
  locs.sort((a, b) => PLATFORM_ORDER.indexOf(a.platformCode) - PLATFORM_ORDER.indexOf(b.platformCode));
  for (const l of locs) {
    if (l.platformDataLength > 65536 || l.platformDataOffset + l.platformDataLength > file.size) {
      throw new CorruptImageError('VHD parent locator', l.platformDataOffset, `locator data within the file (${file.size} bytes)`, `${l.platformDataLength} bytes`);
    }
    const b = new Uint8Array(l.platformDataLength);
    await file.read(b, l.platformDataOffset);
    let name: string;
    switch (l.platformCode) {
      case 'W2ku': case 'W2ru': name = utf16(b, true); break;
      case 'Wi2k': case 'Wi2r': name = ascii(b); break;
      case 'MacX': name = decodeURIComponent(new TextDecoder().decode(b).replace(/\0+$/, '').replace(/^file:\/\/(localhost)?/, '')); break;
      default: continue; // 'Mac ' (alias records) cannot be resolved outside macOS
    }
    if (!name) continue;
    if (l.platformCode === 'W2ru' || l.platformCode === 'Wi2r') out.push({ source: l.platformCode, name: windowsRelative(name) });
    else if (/^[A-Za-z]:\\|^\\\\/.test(name)) out.push({ source: `${l.platformCode} (basename)`, name: baseName(name) });
    else out.push({ source: l.platformCode, name: l.platformCode === 'MacX' ? name : name.replace(/\\/g, '/') });
  }
  if (h.parentUnicodeName) out.push({ source: 'parent name', name: baseName(h.parentUnicodeName) });
  return out;
}
