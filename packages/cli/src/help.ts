/** Per-command help (`diskit COMMAND --help`), output-format options (`-o help`), command suggestions. */

const IMG_OPTS = `  -f, --format FMT   the image's format instead of detecting it (raw reads any file as a raw disk)
  -o backing=PATH    the parent of a differencing VHD/VHDX that was moved (its id is still checked)
  --json             machine-readable output
  --debug            stack traces on errors`;
const VOLUME_OPTS = `  --partition N      the filesystem on partition N (as sfdisk numbers them; default: the whole
                     disk, else the first partition holding a filesystem)
  --names MODE       ISO9660 names: iso, joliet or rockridge (default: the richest present)
  --fs NAME          which filesystem when a disc holds several (udf or iso9660 on a bridge disc)
  -o backing=PATH    the parent of a differencing VHD/VHDX that was moved (its id is still checked)
  --volume N|NAME    APFS: the volume (number from 1, or name; default: the first data volume)
  --snapshot NAME    APFS: read a snapshot instead of the live volume
  -f, --format FMT   the image's format instead of detecting it`;

/** Help of the commands that do not print their own (serve, web and create iso do). */
export const COMMAND_HELP: Record<string, string> = {
  info: `usage: diskit info <img> [-f FMT] [--json]

Format, variant, virtual/file/allocated sizes, format-specific facts, the partition table with the
filesystem found on each partition, and the disk's filesystem.

${IMG_OPTS}

example: diskit info disk.vhdx`,
  map: `usage: diskit map <img> [-f FMT] [--json]

The virtual disk's data, zero and unallocated extents (the fields of qemu-img map --output=json).

${IMG_OPTS}

example: diskit map --json disk.vhd`,
  dump: `usage: diskit dump <img> [-f FMT] [--json]

Every header and table of the container with its file offset and fields.

${IMG_OPTS}

example: diskit dump image.dmg`,
  check: `usage: diskit check <img> [-f FMT] [--repair] [--json]

Checks the container's structures and checksums, the partition table, and walks every filesystem
on the disk. Exit 1 when an error is found (warnings do not fail).

${IMG_OPTS}
  --repair           fix what can be fixed in place (VHDX: replay the log)

example: diskit check --json disk.vhdx`,
  convert: `usage: diskit convert [-f FMT] -O FMT [-o k=v,...] [-p] [--force] <in> <out>

Copies the virtual disk of <in> into a new image <out>, skipping holes. The output is written under
a temporary name and renamed when complete.

  -O, --output-format FMT  raw, vhd, vhdx, dmg, iso, bin (default raw)
  -o, --options k=v,...    options of the output format; -o help lists them with their defaults
                           (backing=PATH is the input's: the moved parent of a differencing VHD/VHDX)
  -p, --progress           progress bar with rate and time left (on by default on a terminal)
  --force                  replace an existing <out>
  -f, --format FMT         the input's format instead of detecting it

example: diskit convert -O vhdx -o subformat=fixed disk.img disk.vhdx`,
  ls: `usage: diskit ls <img> [path] [-R] [-l] [--json] [--partition N] [--names iso|joliet|rockridge]

Lists a directory of the filesystem inside the image (through any container and partition table).
A damaged directory is named on stderr and skipped; the exit code is then 1.

  -R, --recursive    the whole tree below path
  -l, --long         mode, size, modification time
  --json             one JSON record per entry
${VOLUME_OPTS}

example: diskit ls -R -l image.iso /boot`,
  tree: `usage: diskit tree <img> [path] [--partition N] [--names MODE]

Draws the directory tree below path. A damaged directory is named on stderr and skipped (exit 1).

${VOLUME_OPTS}

example: diskit tree disk.vhd --partition 2`,
  extract: `usage: diskit extract <img> <path> <dest> [--partition N] [--force]

Extracts a file or a directory tree into <dest>, keeping modes, times and symlinks. Names that
could escape <dest> are skipped and reported; a damaged directory is reported and skipped (exit 1).

  --force            overwrite existing files in <dest>
${VOLUME_OPTS}

example: diskit extract image.iso / out/`,
  create: `usage: diskit create iso <dir> <out.iso> [options]       (diskit create iso --help)
       diskit create vhd|vhdx --parent <base> [-o block_size=N] [--force] <child>

create iso: an ISO9660 image of a folder (Rock Ridge, Joliet, El Torito).
create vhd|vhdx: an empty differencing child that reads through to <base> (never modified).

example: diskit create vhdx --parent base.vhdx child.vhdx`,
};

interface FormatOption {
  key: string;
  default: string;
  description: string;
}

/** The `-o` options each output format takes, with their defaults (as the drivers apply them). */
export const FORMAT_OPTIONS: Record<string, FormatOption[]> = {
  raw: [],
  vhd: [
    { key: 'subformat', default: 'dynamic', description: 'dynamic or fixed' },
    { key: 'block_size', default: '2M', description: 'dynamic block size, a power of two from 4K to 256M' },
    { key: 'chs', default: 'off', description: 'round the size to a CHS geometry, as Virtual PC does' },
    { key: 'force_size', default: 'on', description: 'keep the exact size (qemu-img\'s word; off = chs=on)' },
    { key: 'align', default: '512', description: 'round the size up to a multiple of this (e.g. 1M, for Azure)' },
  ],
  vhdx: [
    { key: 'subformat', default: 'dynamic', description: 'dynamic or fixed' },
    { key: 'block_size', default: '32M', description: 'payload block size, a power of two from 1M to 256M' },
    { key: 'logical_sector_size', default: '512', description: '512 or 4096' },
    { key: 'physical_sector_size', default: '4096', description: '512 or 4096' },
    { key: 'log_size', default: '1M', description: 'log region size, a multiple of 1M up to 256M' },
  ],
  dmg: [
    { key: 'compression', default: 'zlib', description: 'zlib (UDZO), bzip2 (UDBZ) or raw (UDRO)' },
    { key: 'level', default: '1', description: 'compression level 0..9 (bzip2: block size 1..9)' },
    { key: 'workers', default: 'the CPU count', description: 'compression threads, 1..256' },
  ],
  sparseimage: [{ key: 'band-size', default: '1m', description: 'bytes per band, a multiple of 512 (k/m/g suffixes)' }],
  sparsebundle: [{ key: 'band-size', default: '8m', description: 'bytes per band file, a multiple of 512 (k/m/g suffixes), as hdiutil' }],
  iso: [],
  bin: [],
};

/** `-o help`: the output format's options and defaults. */
export function formatOptionsHelp(format: string): string {
  const opts = FORMAT_OPTIONS[format];
  if (!opts) return `${format}: no options documented`;
  if (opts.length === 0) return `${format} takes no -o options`;
  const w = Math.max(...opts.map((o) => `${o.key}=${o.default}`.length));
  return [`Options for -O ${format} (-o key=value,...; shown with defaults):`, ...opts.map((o) => `  ${`${o.key}=${o.default}`.padEnd(w)}  ${o.description}`)].join('\n');
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The nearest known name, when it is near enough to be what was meant. */
export function nearest(name: string, known: string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? 1 : distance(name, k);
    if (!best || d < best.d) best = { k, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 3)) ? best.k : undefined;
}
