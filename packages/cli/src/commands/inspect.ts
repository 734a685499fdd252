import { collectExtents, walk, UsageError, type Partition, type Problem } from '@diskit/core';
import { defaultRegistry } from '../registry.js';
import { findVolumes, openImage, openVolume, partitionTableOf, type Opened } from '../open.js';
import { parse } from '../args.js';
import { humanSize, printStructures, toJson } from '../format.js';

function onePath(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: diskit ${cmd} <img>`);
  return positionals[0]!;
}

async function withImage<T>(path: string, format: string | undefined, fn: (o: Opened) => Promise<T>, writable = false): Promise<T> {
  const o = await openImage(defaultRegistry(), path, { format, writable });
  try {
    return await fn(o);
  } finally {
    await o.close();
  }
}

export async function info(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const path = onePath(positionals, 'info');
  return withImage(path, values.format, async ({ image, fileSize, allocatedSize }) => {
    const reg = defaultRegistry();
    let partitions: Partition[] = [];
    let partitionScheme = 'none';
    let hybridIso = false;
    try {
      const t = await partitionTableOf(image);
      partitions = t.partitions;
      partitionScheme = t.scheme;
      hybridIso = t.hybridIso;
    } catch {
      /* a broken table is reported by `check`; info still describes the container */
    }
    let filesystem: Record<string, unknown> | undefined;
    try {
      const vol = await openVolume(reg, image);
      filesystem = { type: vol.type, ...(await vol.info()) };
    } catch {
      filesystem = undefined;
    }
    const extra = (await image.info?.()) ?? {};
    const out = {
      format: image.format,
      variant: image.variant,
      virtualSize: image.size,
      fileSize,
      allocatedSize,
      partitionScheme,
      hybridIso,
      partitions: partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, type: p.type, name: p.name, uuid: p.uuid, kind: p.kind, bootable: p.bootable, reachable: p.reachable, truncated: p.truncated })),
      ...(filesystem ? { filesystem } : {}),
      ...extra,
    };
    if (values.json) {
      process.stdout.write(toJson(out) + '\n');
      return 0;
    }
    let s = `image: ${path}\nformat: ${out.format}${out.variant && out.variant !== out.format ? ` (${out.variant})` : ''}\n`;
    s += `virtual size: ${humanSize(out.virtualSize)}\nfile size: ${humanSize(out.fileSize)}\nallocated: ${humanSize(out.allocatedSize)}\n`;
    for (const [k, v] of Object.entries(extra)) s += `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`;
    if (partitions.length) {
      s += `partition table: ${partitionScheme}${hybridIso ? ' (isohybrid)' : ''}\n`;
      s += '  #        start         size  type                                  name\n';
      for (const p of partitions) {
        s += `  ${String(p.index).padEnd(3)} ${String(p.start).padStart(12)} ${String(p.size).padStart(12)}  ${p.type.padEnd(37)} ${p.name ?? (p.kind === 'primary' ? '' : p.kind ?? '')}\n`;
      }
    }
    if (filesystem) s += `filesystem: ${toJson(filesystem)}\n`;
    process.stdout.write(s);
    return 0;
  });
}

export async function map(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const path = onePath(positionals, 'map');
  return withImage(path, values.format, async ({ image }) => {
    const extents = await collectExtents(image);
    const rows = extents.map((e) => ({
      start: e.offset, length: e.length, depth: 0,
      present: e.kind !== 'unallocated', zero: e.kind !== 'data', data: e.kind === 'data',
    }));
    if (values.json) process.stdout.write(toJson(rows) + '\n');
    else {
      let s = 'Offset             Length             Kind\n';
      for (const e of extents) s += `0x${e.offset.toString(16).padEnd(16)} 0x${e.length.toString(16).padEnd(16)} ${e.kind}\n`;
      process.stdout.write(s);
    }
    return 0;
  });
}

export async function dump(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const path = onePath(positionals, 'dump');
  return withImage(path, values.format, async ({ image }) => {
    const ins = await image.inspect();
    if (values.json) process.stdout.write(toJson(ins) + '\n');
    else {
      const { structures, ...head } = ins;
      let s = '';
      for (const [k, v] of Object.entries(head)) s += `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`;
      process.stdout.write(s + printStructures(structures));
    }
    return 0;
  });
}

export async function check(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { repair: { type: 'boolean' } });
  const path = onePath(positionals, 'check');
  return withImage(path, values.format, async ({ image }) => {
    const report = (await image.check?.({ repair: values.repair })) ?? { problems: [] };
    // The partition table inside the disk, whatever the container: one place for every format.
    let partitions: Partition[] = [];
    try {
      const table = await partitionTableOf(image);
      report.problems.push(...table.problems);
      partitions = table.partitions;
    } catch (e) {
      report.problems.push({ severity: 'error', message: (e as Error).message, structure: 'partition table' });
    }
    report.problems.push(...(await checkFilesystems(image, partitions)));
    const errors = report.problems.filter((p) => p.severity === 'error').length;
    if (values.json) process.stdout.write(toJson({ ok: errors === 0, ...report }) + '\n');
    else {
      for (const p of report.problems) process.stdout.write(`${p.severity}: ${p.message}${p.offset !== undefined ? ` (offset ${p.offset})` : ''}\n`);
      for (const r of report.repaired ?? []) process.stdout.write(`repaired: ${r}\n`);
      process.stdout.write(errors === 0 ? `No errors were found on the image.\n` : `${errors} error(s) found.\n`);
    }
    return errors === 0 ? 0 : 1;
  }, values.repair === true);
}

/** Every filesystem on the disk, walked: a directory that cannot be read is an error of the image. */
async function checkFilesystems(image: Opened['image'], partitions: Partition[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const v of await findVolumes(defaultRegistry(), image, partitions)) {
    const where = `${v.fs}${v.partition ? ` on partition ${v.partition.index}` : ''}`;
    if (!v.volume) {
      problems.push({ severity: 'error', structure: where, message: `${where}: cannot mount: ${v.error?.message}` });
      continue;
    }
    for await (const _ of walk(v.volume, '/', {
      onError: (p) => problems.push({ severity: 'error', structure: p.structure ?? where, offset: p.offset === undefined ? undefined : p.offset + (v.partition?.start ?? 0), message: `${where}: directory ${p.path} skipped: ${p.error.message}` }),
    })) void _;
  }
  return problems;
}
