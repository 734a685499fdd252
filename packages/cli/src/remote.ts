/** The remote-image flags every command takes: `--header 'K: V'` (repeatable), `--header-file F`, `--stats`. */
import { readFileSync } from 'node:fs';
import { UsageError } from '@diskit/core';
import { remote } from './open.js';

/** Take the remote flags out of a command's arguments (so each command's own parser never sees them). */
export function takeRemoteFlags(args: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--stats') remote.stats = true;
    else if (flag === '--header' || flag === '--header-file') {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${flag} needs a value`);
      const lines = flag === '--header' ? [value] : readFileSync(value, 'utf8').split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#'));
      for (const line of lines) addHeader(line);
    } else rest.push(a);
  }
  return rest;
}

function addHeader(line: string): void {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`a header is 'Name: value' (the value is never printed)`);
  remote.headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
}

/** `--stats`: what the remote images cost, on stderr. */
export function printRemoteStats(): void {
  if (!remote.stats || remote.opened.length === 0) return;
  for (const d of remote.opened) {
    process.stderr.write(`diskit: ${d.url}: ${d.stats.requests} requests, ${d.stats.bytesFetched} bytes fetched for ${d.stats.bytesRead} bytes read\n`);
  }
}
