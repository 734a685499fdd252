import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError, isDirectoryDriver, type BlockDevice, type DirectoryFormatDriver } from '@diskit/core';
import { AtomicOutput, DirectoryOutput } from '@diskit/core/node';
import { defaultRegistry } from '../registry.js';
import { openImage } from '../open.js';
import { parse, parseOptions } from '../args.js';
import { progressBar } from '../format.js';
import { formatOptionsHelp } from '../help.js';
import { passwordSource } from '../password.js';

export async function convert(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    'output-format': { type: 'string', short: 'O' },
    options: { type: 'string', short: 'o', multiple: true },
    progress: { type: 'boolean', short: 'p' },
    force: { type: 'boolean' },
    'no-verify': { type: 'boolean' },
  });
  const reg = defaultRegistry();
  const target = reg.format(values['output-format'] ?? 'raw');
  // -o help: the output format's options (qemu-img's convention); no files needed
  if ((values.options as string[] | undefined)?.some((o) => o.split(',').includes('help'))) {
    process.stdout.write(formatOptionsHelp(target.name) + '\n');
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('usage: diskit convert [-f FMT] -O FMT [-o k=v,...] [-p] [--no-verify] [--password-file F] <in> <out>');
  const [input, output] = positionals as [string, string];
  if (!target.create && !isDirectoryDriver(target)) throw new UsageError(`diskit cannot write ${target.name} images`);
  if (resolve(input) === resolve(output)) throw new UsageError('output would overwrite the input');
  // `backing` names the input's parent (a differencing image whose parent was moved); the rest are the output's.
  const { backing, ...options } = parseOptions(values.options);

  const sidecars = (target.sidecars?.(basename(output)) ?? []).map((s) => ({ ...s, path: join(dirname(output), s.name) }));
  if (!values.force) for (const s of sidecars) if (existsSync(s.path)) throw new UsageError(`${s.path} exists (use --force to overwrite)`);
  const src = await openImage(reg, input, { format: values.format, backing: backing === undefined ? undefined : resolve(backing), verify: values['no-verify'] !== true, passwordFile: values['password-file'] });
  if (isDirectoryDriver(target)) {
    try {
      return await convertToFolder(target, src.image, output, options, values.force, values.progress || process.stdout.isTTY ? progressBar(`${src.image.format} → ${target.name}`) : undefined);
    } finally {
      await src.close();
    }
  }
  let out: AtomicOutput | undefined;
  try {
    out = await AtomicOutput.create(output, { force: values.force });
    const showProgress = values.progress || process.stdout.isTTY;
    await target.create!(src.image, out, {
      options,
      name: output,
      password: passwordSource(output, values['password-file']),
      onProgress: showProgress ? progressBar(`${src.image.format} → ${target.name}`) : undefined,
    });
    await out.commit();
    out = undefined;
    for (const side of sidecars) {
      const sidecar = await AtomicOutput.create(side.path, { force: true });
      await sidecar.write(side.data, 0);
      await sidecar.commit();
    }
    return 0;
  } finally {
    await out?.abort();
    await src.close();
  }
}

/** A folder image (a .sparsebundle): written under a temporary folder name, renamed on success. */
async function convertToFolder(target: DirectoryFormatDriver, source: BlockDevice, output: string, options: Record<string, string>, force: boolean | undefined, onProgress?: (done: number, total: number) => void): Promise<number> {
  const out = await DirectoryOutput.create(output, { force });
  try {
    await target.createDirectory(source, out, { options, name: output, onProgress });
    await out.commit();
    return 0;
  } catch (e) {
    await out.abort();
    throw e;
  }
}
