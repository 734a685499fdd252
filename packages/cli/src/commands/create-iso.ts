/**
 * `diskit create iso <dir> <out.iso> [...]` — owned by the iso9660 package's work.
 * Contract: export createIsoCommand(args) → exit code (0 ok, 1 image problem, 2 usage).
 * `args` are the arguments after `create iso`.
 */
import { stat } from 'node:fs/promises';
import { UsageError } from '@diskit/core';
import { AtomicOutput } from '@diskit/core/node';
import { buildIso, type BuildIsoOptions } from '@diskit/iso9660/node';
import { progressBar } from '../format.js';

export const CREATE_ISO_USAGE = `usage: diskit create iso <dir> <out.iso> [options]
  -V, --volid VOLID         volume id (up to 32 characters; default CDROM)
  --joliet / --no-joliet    Joliet tree with 64-character Unicode names (default on)
  --rock-ridge / --no-rock-ridge
                            Rock Ridge: POSIX names, modes, owners, times, symlinks (default on)
  --boot IMG                El Torito BIOS boot image (path inside <dir>, like mkisofs -b)
  --boot-catalog PATH       where the boot catalog appears in the tree (default: hidden)
  --no-emul-boot            no-emulation boot image
  --boot-load-size N        512-byte sectors the BIOS loads (default 4)
  --boot-info-table         patch the boot info table into the boot image
  --efi-boot IMG            El Torito EFI boot image (a FAT image inside <dir>)
  --force                   overwrite <out.iso>
  -p, --progress            show progress
SOURCE_DATE_EPOCH fixes every time for byte-identical rebuilds.`;

export async function createIsoCommand(args: string[]): Promise<number> {
  const opts: BuildIsoOptions = {};
  const pos: string[] = [];
  let force = false;
  let progress = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value\n${CREATE_ISO_USAGE}`);
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        process.stdout.write(CREATE_ISO_USAGE + '\n');
        return 0;
      case '-V':
      case '--volid':
      case '--volume-id':
        opts.volumeId = value();
        break;
      case '--joliet':
      case '-J':
        opts.joliet = true;
        break;
      case '--no-joliet':
        opts.joliet = false;
        break;
      case '--rock-ridge':
      case '-R':
        opts.rockRidge = true;
        break;
      case '--no-rock-ridge':
        opts.rockRidge = false;
        break;
      case '--boot':
      case '-b':
        opts.boot = value();
        break;
      case '--boot-catalog':
      case '-c':
        opts.bootCatalog = value();
        break;
      case '--no-emul-boot':
        opts.noEmulBoot = true;
        break;
      case '--boot-load-size': {
        const v = value();
        if (!/^\d+$/.test(v)) throw new UsageError(`--boot-load-size wants a number of 512-byte sectors, got '${v}'`);
        opts.bootLoadSize = Number(v);
        break;
      }
      case '--boot-info-table':
        opts.bootInfoTable = true;
        break;
      case '--efi-boot':
      case '-e':
        opts.efiBoot = value();
        break;
      case '--force':
        force = true;
        break;
      case '-p':
      case '--progress':
        progress = true;
        break;
      case '--debug':
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option '${a}'\n${CREATE_ISO_USAGE}`);
        pos.push(a);
    }
  }
  if (pos.length !== 2) throw new UsageError(CREATE_ISO_USAGE);
  const [dir, output] = pos as [string, string];
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new UsageError(`${dir}: no such directory`);
  if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory`);
  const out = await AtomicOutput.create(output, { force });
  let ok = false;
  try {
    if (progress || process.stdout.isTTY) opts.onProgress = progressBar('building ISO');
    // an output inside the source folder is not put into itself
    await buildIso(dir, out, { ...opts, exclude: [out.tempPath, output] });
    await out.commit();
    ok = true;
    return 0;
  } finally {
    if (!ok) await out.abort();
  }
}
