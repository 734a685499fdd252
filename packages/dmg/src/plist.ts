/**
 * A small, strict XML property-list reader and writer: just what UDIF resource forks use
 * (dict, array, key, string, data, integer, real, true, false, date). Isomorphic, no DOM.
 */
import { CorruptImageError } from '@diskit/core';

export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | { [key: string]: PlistValue };
export type PlistDict = { [key: string]: PlistValue };

const MAX_DEPTH = 64;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Decode base64, skipping whitespace; throws on any other foreign character. */
export function base64Decode(s: string, where = 'plist <data>', offset = 0): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 3) / 4) + 3);
  let n = 0, acc = 0, bits = 0, pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d) { pad++; continue; }
    const v = c < 256 ? B64_INDEX[c]! : -1;
    if (v < 0 || pad) throw new CorruptImageError(where, offset, 'base64 text', `character ${JSON.stringify(s[i])}`);
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >>> bits) & 0xff;
    }
  }
  return out.slice(0, n);
}

export function base64Encode(b: Uint8Array, lineLength = 0, indent = ''): string {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const v = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + B64[(v >>> 6) & 63]! + B64[v & 63]!;
  }
  if (i < b.length) {
    const v = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8);
    s += B64[v >>> 18]! + B64[(v >>> 12) & 63]! + (i + 1 < b.length ? B64[(v >>> 6) & 63]! : '=') + '=';
  }
  if (!lineLength) return s;
  const lines: string[] = [];
  for (let j = 0; j < s.length; j += lineLength) lines.push(indent + s.slice(j, j + lineLength));
  return lines.join('\n');
}

function decodeEntities(s: string, offset: number): string {
  if (s.indexOf('&') < 0) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);?/g, (m, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    if (e[0] === '#') {
      const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (cp <= 0x10ffff) return String.fromCodePoint(cp);
    }
    throw new CorruptImageError('XML plist', offset, 'a known XML entity', m);
  });
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Parse an XML plist. `base` is the file offset of the text, used in error messages
 * (offsets are reported as base + character index, exact for ASCII text).
 */
export function parsePlist(text: string, base = 0): PlistValue {
  let pos = 0;
  const fail = (expected: string, found?: string): never => {
    throw new CorruptImageError('XML plist', base + pos, expected, found);
  };

  // Tokens: we walk tag by tag, skipping the prolog, comments, doctype and whitespace between elements.
  function skipMisc(): void {
    for (;;) {
      while (pos < text.length && /\s/.test(text[pos]!)) pos++;
      if (text.startsWith('<?', pos)) {
        const e = text.indexOf('?>', pos);
        if (e < 0) fail('end of processing instruction');
        pos = e + 2;
      } else if (text.startsWith('<!--', pos)) {
        const e = text.indexOf('-->', pos);
        if (e < 0) fail('end of comment');
        pos = e + 3;
      } else if (text.startsWith('<!', pos)) {
        const e = text.indexOf('>', pos);
        if (e < 0) fail('end of declaration');
        pos = e + 1;
      } else return;
    }
  }

  /** Reads `<name attrs>` or `<name/>`; returns [name, selfClosing]. */
  function openTag(): [string, boolean] {
    skipMisc();
    if (text[pos] !== '<' || text[pos + 1] === '/') fail('an opening tag', JSON.stringify(text.slice(pos, pos + 16)));
    const e = text.indexOf('>', pos);
    if (e < 0) fail('end of tag');
    let inner = text.slice(pos + 1, e);
    pos = e + 1;
    const self = inner.endsWith('/');
    if (self) inner = inner.slice(0, -1);
    const name = inner.trim().split(/\s+/)[0] ?? '';
    return [name, self];
  }

  function closeTag(name: string): void {
    skipMisc();
    const want = `</${name}`;
    if (!text.startsWith(want, pos)) fail(`</${name}>`, JSON.stringify(text.slice(pos, pos + 16)));
    const e = text.indexOf('>', pos);
    pos = e + 1;
  }

  function textUntilClose(name: string): string {
    const e = text.indexOf('<', pos);
    if (e < 0) fail(`</${name}>`, 'end of text');
    const s = decodeEntities(text.slice(pos, e), base + pos);
    pos = e;
    if (!text.startsWith(`</${name}`, pos)) fail(`</${name}>`, JSON.stringify(text.slice(pos, pos + 16)));
    pos = text.indexOf('>', pos) + 1;
    return s;
  }

  function peekClose(): boolean {
    skipMisc();
    return text.startsWith('</', pos);
  }

  function value(depth: number): PlistValue {
    if (depth > MAX_DEPTH) fail(`nesting below ${MAX_DEPTH} levels`);
    const at = pos;
    const [name, self] = openTag();
    switch (name) {
      case 'dict': {
        const d: PlistDict = Object.create(null);
        if (self) return d;
        while (!peekClose()) {
          const [k, kself] = openTag();
          if (k !== 'key') fail('<key>', `<${k}>`);
          const key = kself ? '' : textUntilClose('key');
          d[key] = value(depth + 1);
        }
        closeTag('dict');
        return d;
      }
      case 'array': {
        const a: PlistValue[] = [];
        if (self) return a;
        while (!peekClose()) a.push(value(depth + 1));
        closeTag('array');
        return a;
      }
      case 'string':
        return self ? '' : textUntilClose('string');
      case 'data':
        return self ? new Uint8Array(0) : base64Decode(textUntilClose('data'), 'XML plist <data>', base + at);
      case 'integer': {
        const s = self ? '' : textUntilClose('integer').trim();
        if (!/^[-+]?(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) fail('an integer', JSON.stringify(s));
        const v = Number(s);
        if (!Number.isSafeInteger(v)) fail('an integer below 2^53', s);
        return v;
      }
      case 'real': {
        const s = self ? '' : textUntilClose('real').trim();
        const v = Number(s);
        if (!Number.isFinite(v)) fail('a real number', JSON.stringify(s));
        return v;
      }
      case 'date': {
        const s = self ? '' : textUntilClose('date').trim();
        const d = new Date(s);
        if (Number.isNaN(d.getTime())) fail('an ISO 8601 date', JSON.stringify(s));
        return d;
      }
      case 'true':
      case 'false':
        if (!self) closeTag(name);
        return name === 'true';
      default:
        return fail('a plist element', `<${name}>`);
    }
  }

  const [root, self] = openTag();
  if (root !== 'plist') fail('<plist>', `<${root}>`);
  if (self) fail('a value inside <plist>');
  const v = value(1);
  closeTag('plist');
  return v;
}

/** Write an XML plist the way Apple tools lay it out (tabs, 52-column base64 lines). */
export function buildPlist(v: PlistValue): string {
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
  ];
  const emit = (x: PlistValue, ind: string): void => {
    if (typeof x === 'string') out.push(`${ind}<string>${escapeXml(x)}</string>`);
    else if (typeof x === 'number') out.push(Number.isInteger(x) ? `${ind}<integer>${x}</integer>` : `${ind}<real>${x}</real>`);
    else if (typeof x === 'boolean') out.push(`${ind}<${x}/>`);
    else if (x instanceof Date) out.push(`${ind}<date>${x.toISOString().replace(/\.\d{3}Z$/, 'Z')}</date>`);
    else if (x instanceof Uint8Array) {
      out.push(`${ind}<data>`);
      if (x.length) out.push(base64Encode(x, 52, ind));
      out.push(`${ind}</data>`);
    } else if (Array.isArray(x)) {
      out.push(`${ind}<array>`);
      for (const e of x) emit(e, ind + '\t');
      out.push(`${ind}</array>`);
    } else {
      out.push(`${ind}<dict>`);
      for (const k of Object.keys(x)) {
        out.push(`${ind}\t<key>${escapeXml(k)}</key>`);
        emit(x[k]!, ind + '\t');
      }
      out.push(`${ind}</dict>`);
    }
  };
  emit(v, '');
  out.push('</plist>', '');
  return out.join('\n');
}
