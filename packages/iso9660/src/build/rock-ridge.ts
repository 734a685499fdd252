/**
 * Rock Ridge for the builder: the system use entries of each record (SP, NM, PX, TF, SL, PN, ER),
 * and how they split between the record and continuation areas (CE) when they do not fit.
 */
import { SECTOR, encodeShortDate } from '../structs.js';
import { encodeSP, encodeCE, encodePX, encodePN, encodeTF, encodeER, encodeNM, encodeSL } from './susp-entries.js';
import type { BuildNode } from './tree.js';
import type { RecordPlan } from './records.js';

export interface SuLayout {
  inline: Uint8Array[];
  areas: Uint8Array[][];
  /** Assigned addresses of each continuation area. */
  addrs: { block: number; offset: number; length: number }[];
}

const ER_ID = 'RRIP_1991A';
const ER_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const ER_SRC = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

function splitSu(entries: Uint8Array[], inlineAvail: number): SuLayout {
  const total = entries.reduce((s, e) => s + e.length, 0);
  if (total <= inlineAvail) return { inline: entries, areas: [], addrs: [] };
  const inline: Uint8Array[] = [];
  let i = 0;
  let used = 0;
  while (i < entries.length && used + entries[i]!.length <= inlineAvail - 28) used += entries[i++]!.length;
  inline.push(...entries.slice(0, i));
  const areas: Uint8Array[][] = [];
  let cur: Uint8Array[] = [];
  let curLen = 0;
  for (; i < entries.length; i++) {
    const e = entries[i]!;
    const restAfter = entries.slice(i + 1).reduce((s, x) => s + x.length, 0);
    const needCe = restAfter > 0 && curLen + e.length + restAfter > SECTOR;
    if (curLen + e.length + (needCe ? 28 : 0) > SECTOR) {
      areas.push(cur);
      cur = [];
      curLen = 0;
    }
    cur.push(e);
    curLen += e.length;
  }
  if (cur.length) areas.push(cur);
  return { inline, areas, addrs: [] };
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** A child record's Rock Ridge area: its length computed without encoding when it fits inline. */
export function setSuFor(plan: RecordPlan, k: BuildNode, clamp: (d: Date) => Date, avail: number, skip: number): void {
  if (k.type === 'file' || k.type === 'directory') {
    const b = utf8Length(k.name);
    const len = skip + 36 + 26 + b + 5 * Math.max(1, Math.ceil(b / 250));
    if (len <= avail) {
      plan.suLen = len;
      return;
    }
  }
  setSu(plan, rrEntries(k, 2, false, clamp, skip), avail);
}

export function setSu(plan: RecordPlan, entries: Uint8Array[], avail: number): void {
  let total = 0;
  for (const e of entries) total += e.length;
  if (total <= avail) plan.suLen = total;
  else plan.su = splitSu(entries, avail);
}

export function concat(parts: Uint8Array[], extra?: Uint8Array): Uint8Array {
  let n = extra?.length ?? 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  if (extra) out.set(extra, o);
  return out;
}

export function suInlineBytes(su: SuLayout): Uint8Array {
  const a = su.addrs[0];
  return concat(su.inline, a ? encodeCE(a.block, a.offset, a.length) : undefined);
}

export function suInlineLength(su: SuLayout): number {
  return su.inline.reduce((s, e) => s + e.length, 0) + (su.areas.length ? 28 : 0);
}

export function areaLength(su: SuLayout, i: number): number {
  return su.areas[i]!.reduce((s, e) => s + e.length, 0) + (i + 1 < su.areas.length ? 28 : 0);
}

export function areaBytes(su: SuLayout, i: number): Uint8Array {
  const next = su.addrs[i + 1];
  return concat(su.areas[i]!, next ? encodeCE(next.block, next.offset, next.length) : undefined);
}

/** The Rock Ridge entries of one record. */
export function rrEntries(n: BuildNode, kind: 0 | 1 | 2, isRootDot: boolean, clamp: (d: Date) => Date, skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (isRootDot) out.push(encodeSP(skip));
  else if (skip) out.push(new Uint8Array(skip)); // SUSP skip bytes (SP len_skp) before every other area
  if (kind === 2) out.push(...encodeNM(new TextEncoder().encode(n.name)));
  let nlink = 1;
  if (n.type === 'directory') {
    // counted once per directory: '..' records of many children would otherwise recount it
    if (n.subdirs === undefined) {
      n.subdirs = 0;
      for (const c of n.children ?? []) if (c.type === 'directory') n.subdirs++;
    }
    nlink = 2 + n.subdirs;
  }
  out.push(encodePX(n.mode, nlink, n.uid, n.gid));
  const t = encodeShortDate(clamp(n.mtime));
  out.push(encodeTF(t, t, t));
  if (kind === 2 && n.type === 'symlink') out.push(...encodeSL(n.target ?? ''));
  if (kind === 2 && n.type === 'other' && n.rdev !== undefined && ((n.mode & 0o170000) === 0o020000 || (n.mode & 0o170000) === 0o060000)) {
    // dev_t split in 32-bit halves (what xorriso and Linux expect: high 0, low = the old major<<8|minor)
    out.push(encodePN(Math.floor(n.rdev / 0x100000000), n.rdev % 0x100000000));
  }
  if (isRootDot) out.push(encodeER(ER_ID, ER_DES, ER_SRC));
  return out;
}

