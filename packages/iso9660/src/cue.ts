/** The `cue` FormatDriver: a CUE sheet naming the BIN or ISO data track beside it. */
import { CorruptImageError, UnsupportedFeatureError, UsageError, type BlockDevice, type FormatDriver } from '@diskit/core';
import { readDescriptors } from './reader/index.js';
import { BinImage, IsoImage, binFormat } from './formats.js';

export interface CueTrack {
  file: string;
  /** The FILE line naming it (1-based) and where that line starts, for messages. */
  fileLine: number;
  fileOffset: number;
  number: number;
  mode: string;
}

/** Parse the FILE and TRACK lines of a CUE sheet (first data track wins). */
export function parseCue(text: string): CueTrack[] {
  const out: CueTrack[] = [];
  let file: string | undefined;
  let fileLine = 0, fileOffset = 0, pos = 0;
  text.split('\n').forEach((raw, i) => {
    const start = pos;
    pos += new TextEncoder().encode(raw).length + 1;
    const line = raw.trim();
    const f = /^FILE\s+(?:"([^"]*)"|(\S+))\s+(\S+)$/i.exec(line);
    if (f) {
      file = f[1] ?? f[2];
      fileLine = i + 1;
      fileOffset = start;
      return;
    }
    const t = /^TRACK\s+(\d+)\s+(\S+)$/i.exec(line);
    if (t && file !== undefined) out.push({ file, fileLine, fileOffset, number: Number(t[1]), mode: t[2]!.toUpperCase() });
  });
  return out;
}

function looksLikeCue(head: Uint8Array): boolean {
  const n = Math.min(head.length, 4096);
  let s = '';
  for (let i = 0; i < n; i++) {
    const c = head[i]!;
    if (c === 0) return false;
    s += String.fromCharCode(c);
  }
  return /^\s*(REM[^\n]*\n\s*|CATALOG[^\n]*\n\s*|PERFORMER[^\n]*\n\s*|TITLE[^\n]*\n\s*)*FILE\s+/i.test(s) && /\bTRACK\s+\d+\s+/i.test(s);
}

/**
 * The file a CUE sheet names, as written and then as Windows tools write it: `sub\disc.bin`
 * with backslashes, or `C:\rips\disc.bin` (then its last part is looked for beside the sheet). The
 * opener itself falls back to a case-insensitive match. Not found: an error naming the CUE line.
 */
async function openNamed(open: (name: string) => Promise<BlockDevice>, t: CueTrack): Promise<BlockDevice> {
  const slashed = t.file.replace(/\\/g, '/');
  const names = [...new Set([t.file, slashed, slashed.slice(slashed.lastIndexOf('/') + 1)])];
  for (const name of names) {
    try {
      return await open(name);
    } catch (e) {
      if ((e as { code?: string })?.code !== 'ENOENT') throw e;
    }
  }
  throw new CorruptImageError(`CUE sheet line ${t.fileLine}`, t.fileOffset, `the file '${t.file}' it names, beside the sheet`, 'no such file');
}

/** A CUE sheet: opens the data track's BIN (MODE1/2352, MODE2/2352) or ISO (MODE1/2048) beside it. */
export const cueFormat: FormatDriver = {
  name: 'cue',
  description: 'CUE sheet naming a BIN (MODE1/2352, MODE2/2352) or 2048-byte data track',
  probe(input) {
    return input.size < 1 << 20 && looksLikeCue(input.head) ? 85 : 0;
  },
  async open(file, opts) {
    if (file.size > 1 << 20) throw new CorruptImageError('CUE sheet', 0, 'a text file under 1 MiB', `${file.size} bytes`);
    const b = new Uint8Array(file.size);
    await file.read(b, 0);
    const tracks = parseCue(new TextDecoder('utf-8', { fatal: false }).decode(b));
    const data = tracks.find((t) => /^MODE[12]\/(2352|2048)$/.test(t.mode));
    if (!data) throw new UnsupportedFeatureError(`no MODE1/MODE2 data track in the CUE sheet (tracks: ${tracks.map((t) => t.mode).join(', ') || 'none'})`);
    if (!opts?.openRelative) throw new UsageError(`the CUE sheet names '${data.file}', but files beside it cannot be opened here`);
    const dev = await openNamed(opts.openRelative, data);
    try {
      const img = data.mode.endsWith('/2048') ? new IsoImage(dev, 'iso9660', await readDescriptors(dev)) : ((await binFormat.open(dev, opts)) as BinImage);
      img.owned = dev;
      return img;
    } catch (e) {
      await dev.close();
      throw e;
    }
  },
};
