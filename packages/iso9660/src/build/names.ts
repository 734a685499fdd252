/** Identifiers: ISO9660 level 3 d-character names and Joliet UCS-2 names, made unique per directory, and their order. */
import { encodeUcs2 } from '../structs.js';
import type { BuildNode } from './tree.js';

function dchars(s: string, max: number): string {
  let out = '';
  for (let i = 0; i < s.length && out.length < max; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c >= 0xd800 && c <= 0xdbff) i++; // one '_' per astral character
    out += (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f ? String.fromCharCode(c) : '_';
  }
  return out;
}

/** ISO9660 level 3 names: d-characters, 30 characters plus ';1' for files, 31 for directories. */
export function isoNames(kids: BuildNode[]): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  const next = new Map<string, number>();
  for (const k of kids) {
    let base: string, ext: string;
    if (k.type === 'directory') {
      base = dchars(k.name, 31) || '_';
      ext = '';
    } else {
      const dot = k.name.lastIndexOf('.');
      const rawBase = dot > 0 ? k.name.slice(0, dot) : k.name;
      const rawExt = dot > 0 ? k.name.slice(dot + 1) : '';
      ext = dchars(rawExt, 8);
      base = dchars(rawBase, 30 - ext.length) || '_';
    }
    const key = (b: string) => (k.type === 'directory' ? b : `${b}.${ext}`);
    const orig = key(base);
    if (used.has(orig)) {
      // numbered from where the last collision of this name stopped: many names mapping to one
      // identifier must not cost a quadratic search
      const limit = k.type === 'directory' ? 31 : 30 - ext.length;
      for (let i = next.get(orig) ?? 1; ; i++) {
        const suffix = String(i);
        const b = base.slice(0, Math.max(0, limit - suffix.length)) + suffix;
        if (!used.has(key(b))) {
          base = b;
          next.set(orig, i + 1);
          break;
        }
      }
    }
    used.add(key(base));
    out.push(k.type === 'directory' ? base : `${base}.${ext};1`);
  }
  return out;
}

const JOLIET_BAD = /[\u0000-\u001f*/:;?\\]/g;

export function jolietNames(kids: BuildNode[]): string[] {
  const out: string[] = [];
  const used = new Set<string>();
  const next = new Map<string, number>();
  for (const k of kids) {
    const clean = k.name.replace(JOLIET_BAD, '_');
    const max = k.type === 'directory' ? 64 : 62;
    let n = clean.length > max ? clean.slice(0, max) : clean;
    // never split a surrogate pair
    if (/[\ud800-\udbff]$/.test(n)) n = n.slice(0, -1);
    if (used.has(n)) {
      const orig = n;
      for (let i = next.get(orig) ?? 1; ; i++) {
        const suffix = `~${i}`;
        const dot = n.lastIndexOf('.');
        const stem = dot > 0 && n.length - dot <= 8 ? n.slice(0, dot) : n;
        const tail = dot > 0 && n.length - dot <= 8 ? n.slice(dot) : '';
        const c = stem.slice(0, max - tail.length - suffix.length) + suffix + tail;
        if (!used.has(c)) {
          n = c;
          next.set(orig, i + 1);
          break;
        }
      }
    }
    used.add(n);
    out.push(k.type === 'directory' ? n : `${n};1`);
  }
  return out;
}

/**
 * ECMA-119 9.3 order (name, then extension, each padded with spaces). Since '.' sorts below every
 * d-character, comparing the identifiers without their ';1' gives the same order.
 */
export function cmpIso(x: string, y: string): number {
  const xl = x.endsWith(';1') ? x.length - 2 : x.length;
  const yl = y.endsWith(';1') ? y.length - 2 : y.length;
  const n = Math.min(xl, yl);
  for (let i = 0; i < n; i++) {
    const d = x.charCodeAt(i) - y.charCodeAt(i);
    if (d) return d;
  }
  return xl - yl;
}

export function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** A descriptor's text field: Latin-1, padded with spaces. */
export function pad(s: string, len: number): Uint8Array {
  const b = new Uint8Array(len).fill(0x20);
  for (let i = 0; i < Math.min(len, s.length); i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** The same in UCS-2 big-endian (Joliet). */
export function padUcs2(s: string, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i += 2) {
    b[i] = 0;
    b[i + 1] = 0x20;
  }
  const u = encodeUcs2(s.slice(0, len / 2));
  b.set(u, 0);
  return b;
}

