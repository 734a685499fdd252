import { collectExtents, walk, UsageError, type Partition, type Problem, type Structure } from '@diskit/core';
import { defaultRegistry } from '../registry.js';
import { backingOption, findVolumes, openImage, openOptionSpec, openVolume, partitionTableOf, printWarnings, type FoundVolume, type Opened } from '../open.js';
import { parse } from '../args.js';
import { toJson } from '../format.js';
import { factLines, printStructures, table as table_ } from '../info-text.js';
import { partitionTypeName, type PartitionTable } from '@diskit/raw';

function onePath(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: diskit ${cmd} <img>`);
  return positionals[0]!;
}

/** `check` (writable or not) reports the image's warnings as errors instead of printing them. */
async function withImage<T>(path: string, values: { format?: string; options?: string[]; 'password-file'?: string }, fn: (o: Opened) => Promise<T>, check?: { writable: boolean }): Promise<T> {
  const o = await openImage(defaultRegistry(), path, { format: values.format, backing: backingOption(values.options), writable: check?.writable, warn: !check, passwordFile: values['password-file'] });
  try {
    return await fn(o);
  } finally {
    await o.close();
  }
}

export async function info(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, openOptionSpec);
  const path = onePath(positionals, 'info');
  return withImage(path, values, async ({ image, fileSize, allocatedSize }) => {
    let table: PartitionTable | undefined;
    let tableError: string | undefined;
    try {
      table = await partitionTableOf(image);
    } catch (e) {
      // a broken table is reported by `check`; info still describes the container
      tableError = (e as Error).message;
    }
    const partitions = table?.partitions ?? [];
    const volumes = await findVolumes(defaultRegistry(), image, partitions);
    for (const v of volumes) printWarnings(v.volume?.warnings);
    const onPartition = (p: Partition) => volumes.find((v) => v.partition === p);
    // The filesystem of the disk: the whole disk's, else the first partition's.
    const main = volumes.find((v) => !v.partition && v.volume) ?? volumes.find((v) => v.volume);
    const filesystem = main?.volume ? { type: main.volume.type, ...(await main.volume.info()) } : undefined;
    const extra = (await image.info?.()) ?? {};
    const out = {
      format: image.format,
      variant: image.variant,
      virtualSize: image.size,
      fileSize,
      allocatedSize,
      partitionScheme: table?.scheme ?? (tableError ? 'unreadable' : 'none'),
      ...(tableError ? { partitionTableError: tableError } : {}),
      hybridIso: table?.hybridIso ?? false,
      partitions: await Promise.all(partitions.map(async (p) => ({
        index: p.index, start: p.start, size: p.size, type: p.type, name: p.name, uuid: p.uuid, kind: p.kind, bootable: p.bootable,
        reachable: p.reachable, truncated: p.truncated, filesystem: await fsSummary(onPartition(p)),
      }))),
      ...(filesystem ? { filesystem } : {}),
      ...extra,
    };
    if (values.json) {
      process.stdout.write(toJson(out) + '\n');
      return 0;
    }
    const lines = factLines({
      image: path,
      format: `${out.format}${out.variant && out.variant !== out.format ? ` (${out.variant})` : ''}`,
      virtualSize: out.virtualSize, fileSize: out.fileSize, allocatedSize: out.allocatedSize, ...extra,
    });
    lines.push(`partition table: ${table ? `${out.partitionScheme}${out.hybridIso && out.partitionScheme !== 'none' ? ' (isohybrid)' : ''}` : `could not be read: ${tableError}`}`);
    if (out.partitions.length) {
      lines.push(...table_(out.partitions.map((p) => ({
        index: p.index, start: p.start, size: p.size, type: partitionTypeName(p.type) ?? p.type, name: p.name,
        filesystem: p.filesystem ? `${p.filesystem.type}${p.filesystem.error ? ' (cannot mount)' : ''}` : undefined, label: p.filesystem?.label,
        note: [p.kind !== 'primary' ? p.kind : undefined, p.bootable ? 'bootable' : undefined, p.reachable === false ? 'past the end of the image' : undefined, p.truncated ? 'ends past the end of the image' : undefined].filter(Boolean).join(', ') || undefined,
      })), '  '));
    }
    // The disk's filesystem, and any other on the whole disk (a UDF bridge disc is also ISO9660).
    const others = volumes.filter((v) => v !== main && !v.partition);
    for (const v of [main, ...others]) {
      if (!v?.volume) continue;
      const facts: Record<string, unknown> = v === main ? { ...filesystem } : await v.volume.info();
      delete facts.type;
      // facts the image already gave (an ISO's descriptors) are not repeated
      const fresh = Object.fromEntries(Object.entries(facts).filter(([k, x]) => JSON.stringify((extra as Record<string, unknown>)[k]) !== JSON.stringify(x)));
      lines.push(`filesystem: ${v.volume.type}${v.partition ? ` (partition ${v.partition.index})` : ''}`, ...factLines(fresh, '  '));
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  });
}

/** The filesystem found on a partition, for the partition table: type and label. */
async function fsSummary(v: FoundVolume | undefined): Promise<{ type: string; label?: string; error?: string } | undefined> {
  if (!v) return undefined;
  if (!v.volume) return { type: v.fs, error: v.error?.message ?? 'cannot mount' };
  const facts = await v.volume.info().catch(() => ({}) as Record<string, unknown>);
  const label = [facts.label, facts.volumeLabel, facts.volumeName, facts.volumeId].find((x) => typeof x === 'string' && x !== '') as string | undefined;
  return { type: v.volume.type, label };
}

export async function map(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, openOptionSpec);
  const path = onePath(positionals, 'map');
  return withImage(path, values, async ({ image }) => {
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
  const { values, positionals } = parse(args, openOptionSpec);
  const path = onePath(positionals, 'dump');
  return withImage(path, values, async ({ image }) => {
    const ins = await image.inspect();
    // The filesystem diskit would list, when its driver dumps its own structures (BPB, superblock…).
    let filesystem: { type: string; structures: Structure[] } | undefined;
    try {
      const vol = await openVolume(defaultRegistry(), image);
      if (vol.structures) filesystem = { type: vol.type, structures: await vol.structures() };
    } catch {
      /* no filesystem, or a damaged one: `check` and `ls` report it */
    }
    if (values.json) process.stdout.write(toJson(filesystem ? { ...ins, filesystem } : ins) + '\n');
    else {
      const { structures, ...head } = ins;
      let s = factLines(head, '', true).map((l) => l + '\n').join('') + printStructures(structures);
      if (filesystem) s += `filesystem ${filesystem.type} (offsets within the filesystem):\n` + printStructures(filesystem.structures, '  ');
      process.stdout.write(s);
    }
    return 0;
  });
}

export async function check(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...openOptionSpec, repair: { type: 'boolean' } });
  const path = onePath(positionals, 'check');
  return withImage(path, values, async ({ image }) => {
    const report = (await image.check?.({ repair: values.repair })) ?? { problems: [] };
    // What open() read around is an error here, for drivers whose check() does not list it already.
    for (const w of image.warnings ?? []) {
      if (!report.problems.some((p) => p.severity === 'error' && p.structure === w.structure && p.offset === w.offset)) report.problems.push({ ...w, severity: 'error' });
    }
    // The partition table inside the disk, whatever the container: one place for every format.
    let partitions: Partition[] = [];
    try {
      const table = await partitionTableOf(image, false);
      report.problems.push(...table.problems);
      partitions = table.partitions;
    } catch (e) {
      report.problems.push({ severity: 'error', message: (e as Error).message, structure: 'partition table' });
    }
    report.problems.push(...(await checkFilesystems(image, partitions)));
    const errors = report.problems.filter((p) => p.severity === 'error').length;
    if (values.json) process.stdout.write(toJson({ ok: errors === 0, ...report }) + '\n');
    else {
      for (const p of report.problems) {
        const named = p.structure && !p.message.startsWith(p.structure) ? `${p.structure}: ` : '';
        process.stdout.write(`${p.severity}: ${named}${p.message}${p.offset !== undefined ? ` (offset ${p.offset})` : ''}\n`);
      }
      for (const r of report.repaired ?? []) process.stdout.write(`repaired: ${r}\n`);
      process.stdout.write(errors === 0 ? `No errors were found on the image.\n` : `${errors} error(s) found.\n`);
    }
    return errors === 0 ? 0 : 1;
  }, { writable: values.repair === true });
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
    for (const w of v.volume.warnings ?? []) problems.push({ ...w, severity: 'error', offset: w.offset === undefined ? undefined : w.offset + (v.partition?.start ?? 0) });
    // A filesystem that checks itself (chains, allocation, copies) walks its own tree; others are walked here.
    if (v.volume.check) {
      for (const p of (await v.volume.check()).problems) {
        problems.push({ ...p, offset: p.offset === undefined ? undefined : p.offset + (v.partition?.start ?? 0), message: `${where}: ${p.message}` });
      }
      continue;
    }
    for await (const _ of walk(v.volume, '/', {
      onError: (p) => problems.push({ severity: 'error', structure: p.structure ?? where, offset: p.offset === undefined ? undefined : p.offset + (v.partition?.start ?? 0), message: `${where}: directory ${p.path} skipped: ${p.error.message}` }),
    })) void _;
  }
  return problems;
}
