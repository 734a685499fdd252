import { dirname, relative, resolve } from 'node:path';
import { UsageError } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { createDifferencing, parseSize } from '@diskit/vhd';
import { createIsoCommand } from './create-iso.js';
import { parse } from '../main.js';
import { parseOptions } from './convert.js';
import { defaultRegistry } from '../registry.js';
import { openImage } from '../open.js';

const USAGE = 'usage: diskit create iso <dir> <out.iso> [options] | diskit create vhd --parent <base.vhd> [-o block_size=N] <child.vhd>';

/** `diskit create <format> …`: images made from something other than a disk to copy. */
export async function create(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  switch (kind) {
    case 'iso':
      return createIsoCommand(rest);
    case 'vhd':
    case 'vpc':
      return createVhdChild(rest);
    default:
      throw new UsageError(`${USAGE} (got '${kind ?? ''}')`);
  }
}

/** A differencing VHD: an empty child that reads through to `--parent`, which is never modified. */
async function createVhdChild(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    parent: { type: 'string', short: 'b' },
    options: { type: 'string', short: 'o', multiple: true },
    force: { type: 'boolean' },
  });
  if (!values.parent || positionals.length !== 1) throw new UsageError(USAGE);
  const child = positionals[0]!;
  const options = parseOptions(values.options);
  const unknown = Object.keys(options).filter((k) => k !== 'block_size');
  if (unknown.length) throw new UsageError(`create vhd: unknown option(s) ${unknown.join(', ')}`);
  const parent = await openImage(defaultRegistry(), values.parent, { format: 'vhd' });
  let out: AtomicOutput | undefined;
  try {
    out = await AtomicOutput.create(child, { force: values.force });
    const rel = relative(dirname(resolve(child)), resolve(values.parent));
    const blockSize = options.block_size ? parseSize('block_size', options.block_size) : undefined;
    await createDifferencing(rel, parent.image, out, { absolutePath: resolve(values.parent), blockSize });
    await out.commit();
    out = undefined;
    return 0;
  } finally {
    await out?.abort();
    await parent.close();
  }
}
