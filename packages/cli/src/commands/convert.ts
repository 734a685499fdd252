import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { defaultRegistry } from '../registry.js';
import { openImage } from '../open.js';
import { parse } from '../main.js';
import { progressBar } from '../format.js';
import { passwordSource } from '../password.js';

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

export async function convert(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    'output-format': { type: 'string', short: 'O' },
    options: { type: 'string', short: 'o', multiple: true },
    progress: { type: 'boolean', short: 'p' },
    force: { type: 'boolean' },
    'no-verify': { type: 'boolean' },
  });
  if (positionals.length !== 2) throw new UsageError('usage: diskit convert [-f FMT] -O FMT [-o k=v,...] [-p] [--no-verify] [--password-file F] <in> <out>');
  const [input, output] = positionals as [string, string];
  const reg = defaultRegistry();
  const target = reg.format(values['output-format'] ?? 'raw');
  if (!target.create) throw new UsageError(`diskit cannot write ${target.name} images`);
  if (resolve(input) === resolve(output)) throw new UsageError('output would overwrite the input');
  const options = parseOptions(values.options);

  const sidecars = (target.sidecars?.(basename(output)) ?? []).map((s) => ({ ...s, path: join(dirname(output), s.name) }));
  if (!values.force) for (const s of sidecars) if (existsSync(s.path)) throw new UsageError(`${s.path} exists (use --force to overwrite)`);
  const src = await openImage(reg, input, { format: values.format, verify: values['no-verify'] !== true, passwordFile: values['password-file'] });
  let out: AtomicOutput | undefined;
  try {
    out = await AtomicOutput.create(output, { force: values.force });
    const showProgress = values.progress || process.stdout.isTTY;
    await target.create(src.image, out, {
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
