import { dirname, relative, resolve } from 'node:path';
import { UsageError } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { createDifferencing, createDifferencingVhdx, parseSize } from '@diskit/vhd';
import { createIsoCommand } from './create-iso.js';
import { parse, parseOptions } from '../args.js';
import { defaultRegistry } from '../registry.js';
import { openImage } from '../open.js';

const USAGE = 'usage: diskit create iso <dir> <out.iso> [options] | diskit create vhd|vhdx --parent <base> [-o block_size=N] <child>';

/** `diskit create <format> …`: images made from something other than a disk to copy. */
export async function create(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  switch (kind) {
    case 'iso':
      return createIsoCommand(rest);
    case 'vhd':
    case 'vpc':
      return createChild('vhd', rest);
    case 'vhdx':
      return createChild('vhdx', rest);
    default:
      throw new UsageError(`${USAGE} (got '${kind ?? ''}')`);
  }
}

/** A differencing VHD/VHDX: an empty child that reads through to `--parent`, which is never modified. */
async function createChild(format: 'vhd' | 'vhdx', args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    parent: { type: 'string', short: 'b' },
    options: { type: 'string', short: 'o', multiple: true },
    force: { type: 'boolean' },
  });
  if (!values.parent || positionals.length !== 1) throw new UsageError(USAGE);
  const child = positionals[0]!;
  const options = parseOptions(values.options);
  const unknown = Object.keys(options).filter((k) => format === 'vhd' && k === 'block_size' ? false : true);
  if (unknown.length) throw new UsageError(`create ${format}: unknown option(s) ${unknown.join(', ')}`);
  const parent = await openImage(defaultRegistry(), values.parent, { format });
  let out: AtomicOutput | undefined;
  try {
    out = await AtomicOutput.create(child, { force: values.force });
    const rel = relative(dirname(resolve(child)), resolve(values.parent));
    const absolutePath = resolve(values.parent);
    if (format === 'vhdx') await createDifferencingVhdx(rel, parent.image, out, { absolutePath });
    else await createDifferencing(rel, parent.image, out, { absolutePath, blockSize: options.block_size ? parseSize('block_size', options.block_size) : undefined });
    await out.commit();
    out = undefined;
    return 0;
  } finally {
    await out?.abort();
    await parent.close();
  }
}
