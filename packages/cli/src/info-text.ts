/**
 * `diskit info` for people: aligned `key: value` lines (like `qemu-img info`), sizes human-readable
 * with the bytes in parentheses, and lists of records (blkx tables, partitions, El Torito entries)
 * as columns. Never JSON: `--json` is the machine form.
 */
import { humanSize } from '@diskit/core';

type Facts = Record<string, unknown>;

/** camelCase keys as words: dataForkLength → "data fork length". */
export function wordsOf(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').toLowerCase();
}

/**
 * Keys whose numbers are byte counts: *Size and *Bytes (not volumeSpaceSize, a count of blocks) and
 * compound *Length (dataForkLength); a bare `length` is often in blocks, so it stays a number.
 */
const isByteKey = (key: string) => (/(size|bytes)$/i.test(key) && !/spacesize$/i.test(key)) || /[a-z]Length$/.test(key);

const isRecord = (v: unknown): v is Facts => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
const isScalar = (v: unknown) => !isRecord(v) && !Array.isArray(v);
/** {type: 'crc32', value: 'da5cb92f', …}: a checksum, shown as "crc32 da5cb92f". */
const isChecksum = (v: Facts) => typeof v.type === 'string' && Object.keys(v).every((k) => ['type', 'value', 'bits'].includes(k));
const checksumText = (v: Facts) => (v.value === undefined ? String(v.type) : `${v.type} ${v.value}`);

function scalarText(key: string, v: unknown, short = false, raw = false): string {
  if (typeof v === 'boolean') return raw ? String(v) : v ? 'yes' : 'no';
  if (typeof v === 'number' && isByteKey(key) && !raw) return humanSize(v, { exact: !short });
  if (v instanceof Uint8Array) return Array.from(v.subarray(0, 32), (b) => b.toString(16).padStart(2, '0')).join('') + (v.length > 32 ? '…' : '');
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  return String(v);
}

/** A value inside a table cell: one line, no JSON. */
function cellText(key: string, v: unknown, raw = false): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map((x) => cellText(key, x, raw)).join(', ');
  if (isRecord(v)) {
    if (isChecksum(v)) return checksumText(v);
    return Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${k} ${cellText(k, x, raw)}`).join(', ');
  }
  return scalarText(key, v, true, raw);
}

/** Rows as aligned columns (numbers right-aligned); columns empty in every row are left out. */
export function table(rows: Facts[], indent: string, rawKeys = false): string[] {
  const words = rawKeys ? (k: string) => k : wordsOf;
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k) && rows.some((x) => x[k] !== undefined && x[k] !== '')) keys.push(k);
  const cells = rows.map((r) => keys.map((k) => cellText(k, r[k], rawKeys)));
  const head = keys.map((k) => (k === 'index' ? '#' : words(k)));
  const numeric = keys.map((_, i) => cells.every((c) => /^(-?[\d.]+( [KMGT]?i?B)?)?$/.test(c[i]!)));
  const width = keys.map((_, i) => Math.max(head[i]!.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => indent + c.map((s, i) => (numeric[i] ? s.padStart(width[i]!) : s.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(head), ...cells.map(line)];
}

/**
 * Facts as aligned `key: value` lines; nested records indented below their key, record lists as
 * tables. Keys are shown as words and byte counts as sizes unless `rawKeys` (dump keeps the
 * on-disk field names and values).
 */
export function factLines(facts: Facts, indent = '', rawKeys = false): string[] {
  const words = rawKeys ? (k: string) => k : wordsOf;
  const entries = Object.entries(facts).filter(([, v]) => v !== undefined && v !== null);
  const width = Math.max(0, ...entries.map(([k]) => words(k).length + 1));
  const out: string[] = [];
  for (const [k, v] of entries) {
    const label = indent + `${words(k)}:`.padEnd(width + 1);
    if (Array.isArray(v) && v.length && v.every(isRecord)) {
      out.push(`${indent}${words(k)}:`, ...table(v as Facts[], indent + '  ', rawKeys));
    } else if (Array.isArray(v)) {
      out.push(`${label} ${v.length ? v.map((x) => cellText(k, x, rawKeys)).join(', ') : '(none)'}`);
    } else if (isRecord(v)) {
      if (isChecksum(v)) out.push(`${label} ${checksumText(v)}`);
      else if (Object.keys(v).length === 0) out.push(`${label} (none)`);
      else out.push(`${indent}${words(k)}:`, ...factLines(v, indent + '  ', rawKeys));
    } else if (isScalar(v)) {
      out.push(`${label} ${scalarText(k, v, false, rawKeys)}`.trimEnd());
    }
  }
  return out;
}

/** Print an inspect() structure tree: fields as aligned lines, nested ones indented (never JSON). */
export function printStructures(structures: { name: string; offset: number; size: number; fields: Record<string, unknown>; children?: unknown[] }[], indent = ''): string {
  let out = '';
  for (const s of structures) {
    out += `${indent}${s.name} @ ${s.offset} (${s.size} bytes)\n`;
    for (const line of factLines(s.fields, indent + '  ', true)) out += line + '\n';
    if (s.children?.length) out += printStructures(s.children as typeof structures, indent + '    ');
  }
  return out;
}
