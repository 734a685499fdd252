/** Argument parsing for every command: its own module, so commands never import main.ts. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '@diskit/core';

export const commonOptions = {
  json: { type: 'boolean' },
  format: { type: 'string', short: 'f' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  // The passphrase of an encrypted image comes from a file (or DISKIT_PASSWORD, or a prompt), never argv.
  'password-file': { type: 'string' },
} satisfies ParseArgsConfig['options'];

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with diskit's conventions: unknown flags are usage errors. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- values are checked by parseArgs' option types
export function parse(args: string[], options: Options): { values: Record<string, any>; positionals: string[] } {
  try {
    return parseArgs({ args, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** `-o a=1,b=2` (repeatable) → {a: '1', b: '2'}. */
export function parseOptions(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    for (const kv of item.split(',')) {
      if (!kv) continue;
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`bad -o option '${kv}' (expected key=value)`);
      out[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  return out;
}
