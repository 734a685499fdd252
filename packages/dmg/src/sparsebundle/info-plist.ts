/**
 * A sparse bundle's Info.plist (and its copy Info.bckup): the band size and the disk size, as
 * an XML property list. Read with the strict plist parser of the UDIF reader.
 */
import { CorruptImageError, UnsupportedFeatureError } from '@diskit/core';
import { buildPlist, parsePlist, type PlistDict, type PlistValue } from '../plist.js';

export const BUNDLE_TYPE = 'com.apple.diskimage.sparsebundle';
/** Bands above this are refused: hdiutil's are 8 MiB by default (Time Machine: 8 MiB or 256 MiB). */
export const MAX_BUNDLE_BAND = 4 * 2 ** 30;

export interface BundleInfo {
  bandSize: number;
  /** Disk size in bytes. */
  size: number;
  /** bundle-backingstore-version: 1 (hdiutil since 10.5) or 2 (newer macOS). */
  version: number;
  /** Every key, for inspect(). */
  raw: PlistDict;
}

const isDict = (v: PlistValue | undefined): v is PlistDict => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);

/** hdiutil writes integers; some tools write them as strings: both are taken. */
function integer(d: PlistDict, key: string, where: string): number {
  const v = d[key];
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new CorruptImageError(`${where} ${key}`, 0, 'a whole number', v === undefined ? 'nothing' : JSON.stringify(String(v)).slice(0, 40));
  return n;
}

/** Parse Info.plist text; `where` names the file in messages. */
export function parseBundleInfo(text: string, where = 'Info.plist'): BundleInfo {
  if (text.startsWith('bplist')) throw new UnsupportedFeatureError(`${where} is a binary property list (hdiutil writes XML)`);
  const root = parsePlist(text);
  if (!isDict(root)) throw new CorruptImageError(where, 0, 'a <dict>', typeof root);
  const type = root['diskimage-bundle-type'];
  if (type !== BUNDLE_TYPE) {
    throw new UnsupportedFeatureError(`${where}: diskimage-bundle-type ${JSON.stringify(String(type ?? 'missing')).slice(0, 60)} is not a sparse bundle (${BUNDLE_TYPE})`);
  }
  const bandSize = integer(root, 'band-size', where);
  if (bandSize < 512 || bandSize > MAX_BUNDLE_BAND) throw new CorruptImageError(`${where} band-size`, 0, `512 to ${MAX_BUNDLE_BAND} bytes`, String(bandSize));
  const size = integer(root, 'size', where);
  const version = root['bundle-backingstore-version'] === undefined ? 1 : integer(root, 'bundle-backingstore-version', where);
  if (version !== 1 && version !== 2) throw new UnsupportedFeatureError(`${where}: bundle-backingstore-version ${version} (known: 1, 2)`);
  return { bandSize, size, version, raw: root };
}

/** Info.plist as hdiutil writes it: these five keys in this order, tab-indented. */
export function buildBundleInfo(bandSize: number, size: number): string {
  return buildPlist({
    CFBundleInfoDictionaryVersion: '6.0',
    'band-size': bandSize,
    'bundle-backingstore-version': 1,
    'diskimage-bundle-type': BUNDLE_TYPE,
    size,
  });
}
