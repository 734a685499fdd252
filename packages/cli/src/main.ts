import { isDiskitError, UsageError } from '@diskit/core';
import { liveTempOutputs } from '@diskit/core/node';
import { rmSync } from 'node:fs';
import { commands } from './commands/index.js';
import { COMMAND_HELP, nearest } from './help.js';

export const USAGE = `diskit — read, write, convert and inspect disk images (raw, VHD, VHDX, DMG, ISO9660, BIN)

Usage:
  diskit info <img> [-f FMT] [--json]            format, sizes, partitions, filesystem
  diskit map <img> [-f FMT] [--json]             data/zero/unallocated extents (like qemu-img map)
  diskit dump <img> [-f FMT] [--json]            every header and table with its offset
  diskit check <img> [-f FMT] [--repair] [--json]
  diskit convert [-f FMT] -O FMT [-o k=v,...] [-p] [--force] [--no-verify] <in> <out>
  diskit ls <img> [path] [-R] [-l] [--streams] [--json] [--partition N] [--names iso|joliet|rockridge|win32|dos] [--volume N|NAME] [--snapshot NAME]
  diskit tree <img> [path] [--partition N] [--volume N|NAME] [--snapshot NAME]
  diskit extract <img> <path>[:stream] <dest> [--partition N] [--volume N|NAME] [--snapshot NAME] [--force] [--no-verify]
  diskit create iso <dir> <out.iso> [options]    (diskit create iso --help)
  diskit create vhd|vhdx --parent <base> <child>  a differencing child (the parent is never modified)
  diskit web [--port N]                           the inspector page on loopback (diskit web --help)
  diskit serve <img> [--socket P | --listen H:P] [--writable [--overlay F]] [--run CMD]   NBD export (diskit serve --help)

An <img> may be a .sparsebundle directory (-O sparsebundle writes one) or an http(s):// URL.

--no-verify: convert, extract, ls and tree do not check the data's checksums (DMG blkx and data-fork
  CRC32s) as it is read; by default a mismatch stops them with exit 1 (convert leaves no output). Use it
  to salvage a damaged image.

Encrypted DMGs (read, and write with convert -O dmg -o encryption=aes-128|aes-256): the password is read
  from --password-file FILE (its first line), else DISKIT_PASSWORD, else asked on the terminal (no echo);
  never give it on the command line. A wrong password exits 1.

diskit COMMAND --help shows a command's options and an example; convert -O FMT -o help lists
the output format's options. Exit codes: 0 ok, 1 image problem (corrupt, unsupported, check
failed, something skipped), 2 usage error. Add --debug for stack traces.`;

export { commonOptions, parse } from './args.js';
import { printRemoteStats, takeRemoteFlags } from './remote.js';

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write('diskit 0.1.0\n');
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    const guess = nearest(name, Object.keys(commands));
    process.stderr.write(`diskit: unknown command '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}\n${USAGE}\n`);
    return 2;
  }
  // Commands without an entry (serve, web), and `create iso`, print their own help.
  if ((rest.includes('--help') || rest.includes('-h')) && COMMAND_HELP[name] && !(name === 'create' && rest[0] === 'iso')) {
    process.stdout.write(COMMAND_HELP[name] + '\n');
    return 0;
  }
  // Ctrl-C during a conversion: remove temporary outputs, never leave a partial file.
  const onSigint = () => {
    for (const t of liveTempOutputs()) rmSync(t, { force: true, recursive: true });
    process.stderr.write('\ndiskit: interrupted\n');
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
  try {
    return await cmd(takeRemoteFlags(rest));
  } catch (e) {
    return reportError(e, debug);
  } finally {
    process.off('SIGINT', onSigint);
    printRemoteStats();
  }
}

function reportError(e: unknown, debug: boolean): number {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof UsageError) {
    process.stderr.write(`diskit: ${err.message}\n`);
    return 2;
  }
  if (isDiskitError(e)) {
    process.stderr.write(`diskit: ${err.name}: ${err.message}\n`);
  } else if (err && typeof err.code === 'string' && err.syscall) {
    process.stderr.write(`diskit: ${err.message}\n`);
  } else {
    process.stderr.write(`diskit: internal error: ${err?.message ?? String(e)}\n`);
  }
  if (debug && err?.stack) process.stderr.write(err.stack + '\n');
  return 1;
}
