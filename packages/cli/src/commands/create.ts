import { UsageError } from '@diskit/core';
import { createIsoCommand } from './create-iso.js';

/** `diskit create <format> …`: formats that are made from something other than a disk. */
export async function create(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  switch (kind) {
    case 'iso':
      return createIsoCommand(rest);
    default:
      throw new UsageError(`usage: diskit create iso <dir> <out.iso> | diskit create vhd --parent <base> <child> (got '${kind ?? ''}')`);
  }
}
