/** One FAT directory's entries decoded: long names bound to short entries, labels, deleted and dot entries skipped. */
import { CorruptImageError } from '@diskit/core';
import { labelText, type CodePage, ATTR_DIRECTORY, ATTR_LONG_NAME, ATTR_VOLUME_ID, DELETED, ENTRY_SIZE, parseShortEntry, type ShortEntry } from './dirent.js';
import { LfnCollector } from './lfn.js';
import type { DataRun } from './cluster-file.js';

export interface DirNode extends ShortEntry {
  /** The long name when a valid LFN run precedes the entry, else the 8.3 name. */
  longName?: string;
  isDirectory: boolean;
  /** Device offset of the short entry (for messages). */
  entryOffset: number;
}

export interface ParsedDirectory {
  nodes: DirNode[];
  /** The volume label entry's name (root directory only). */
  label?: string;
  /** LFN entries that belonged to no short entry. */
  orphanLfn: number;
  /** Entries skipped as damaged (the rest of the directory is still read). */
  problems: CorruptImageError[];
}

/** A name that cannot be one path component: never returned as a long name. */
const badName = (n: string) => n === '' || n === '.' || n === '..' || /[/\0]/.test(n);

/**
 * Decode the entries of a directory whose bytes are `data`, laid out on the device as `runs`.
 * `fat32` says whether bytes 20–21 are the high word of the first cluster.
 */
export function parseDirectory(data: Uint8Array, runs: DataRun[], fat32: boolean, what: string, cp: CodePage = 437): ParsedDirectory {
  const nodes: DirNode[] = [];
  const problems: CorruptImageError[] = [];
  const lfn = new LfnCollector();
  let label: string | undefined;
  for (const run of runs) {
    for (let at = run.fileOffset; at + ENTRY_SIZE <= run.fileOffset + run.length; at += ENTRY_SIZE) {
      const first = data[at]!;
      if (first === 0x00) {
        lfn.drop();
        return { nodes, label, orphanLfn: lfn.orphans, problems };
      }
      const attr = data[at + 11]!;
      if (first === DELETED) {
        lfn.drop();
        continue;
      }
      if ((attr & 0x3f) === ATTR_LONG_NAME) {
        lfn.add(data, at);
        continue;
      }
      const devOffset = run.devOffset + (at - run.fileOffset);
      if (attr & ATTR_VOLUME_ID) {
        lfn.drop();
        if (!(attr & ATTR_DIRECTORY)) label ??= labelText(data.subarray(at, at + 11), cp);
        continue;
      }
      if (first === 0x2e) {
        // '.' and '..' (a name starting with a dot is stored only as a long name)
        lfn.drop();
        continue;
      }
      const e = parseShortEntry(data, at, cp);
      if (!fat32) e.firstCluster &= 0xffff;
      const longName = lfn.finish(e.raw);
      if (badName(e.name)) {
        problems.push(new CorruptImageError(`${what}: directory entry`, devOffset, 'an 8.3 name without "/" or NUL', JSON.stringify(e.name)));
        continue;
      }
      const n = e as DirNode;
      n.longName = longName !== undefined && !badName(longName) ? longName : undefined;
      n.isDirectory = (attr & ATTR_DIRECTORY) !== 0;
      n.entryOffset = devOffset;
      nodes.push(n);
    }
  }
  lfn.drop();
  return { nodes, label, orphanLfn: lfn.orphans, problems };
}

/** The name a node is listed under. */
export const nodeName = (n: DirNode): string => n.longName ?? n.name;
