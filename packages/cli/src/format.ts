/** Human-readable output helpers. */
import { humanSize } from '@diskit/core';

/** `ls -l` style mode string. */
export function modeString(type: string, mode?: number): string {
  const t = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : type === 'file' ? '-' : '?';
  if (mode === undefined) return t + (type === 'directory' ? 'r-xr-xr-x' : 'r--r--r--');
  let s = t;
  for (const shift of [6, 3, 0]) {
    const b = (mode >> shift) & 7;
    s += (b & 4 ? 'r' : '-') + (b & 2 ? 'w' : '-') + (b & 1 ? 'x' : '-');
  }
  return s;
}

/** Seconds as m:ss (h:mm:ss past an hour). */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One progress line: bar, percentage, rate (bytes/s) and time left, from the bytes done since `t0` (ms). */
export function progressLine(label: string, done: number, total: number, elapsedMs: number): string {
  const pct = total > 0 ? Math.min(100, (done / total) * 100) : 100;
  const width = 30;
  const fill = Math.round((pct / 100) * width);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const rateText = rate > 0 ? `${humanSize(Math.round(rate), { exact: false })}/s` : '-';
  const left = done >= total ? `done in ${clock(elapsedMs / 1000)}` : rate > 0 ? `${clock((total - done) / rate)} left` : '';
  return `${label} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${pct.toFixed(1).padStart(5)}%  ${rateText}  ${left}`;
}

/** A progress bar on stderr with rate and time left, redrawn at most ten times a second. */
export function progressBar(label: string): (done: number, total: number) => void {
  let last = 0;
  const t0 = Date.now();
  return (done, total) => {
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    // \x1b[K clears what a longer previous line left
    process.stderr.write(`\r${progressLine(label, done, total, now - t0)}\x1b[K`);
    if (done >= total) process.stderr.write('\n');
  };
}

/** JSON.stringify replacer: bigint as number when safe, bytes as hex, Dates as ISO strings. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Array.from(v.subarray(0, 64), (b) => b.toString(16).padStart(2, '0')).join('');
  if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return ((v as { data: number[] }).data).slice(0, 64).map((b) => b.toString(16).padStart(2, '0')).join('');
  }
  return v;
}

export function toJson(v: unknown): string {
  return JSON.stringify(v, jsonReplacer, 2);
}
