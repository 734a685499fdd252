/**
 * Formats diskit does not read, recognised by their signatures so that they are refused by name
 * instead of being taken for a raw disk (which would give a wrong `info`, a `convert` that copies
 * the container's bytes and a `check` that finds nothing). `-f raw` still reads their bytes.
 */
import type { ProbeInput } from './driver.js';

const ascii = (b: Uint8Array, at: number, n: number): string => {
  let s = '';
  for (let i = at; i < Math.min(b.length, at + n); i++) s += String.fromCharCode(b[i]!);
  return s;
};

/** The text of the head when it is plain text (no NUL in the first 4 KiB), else undefined. */
function headText(head: Uint8Array): string | undefined {
  const n = Math.min(head.length, 4096);
  for (let i = 0; i < n; i++) if (head[i] === 0) return undefined;
  return ascii(head, 0, n);
}

interface Foreign {
  name: string;
  test(input: ProbeInput): boolean;
  /** What to do instead, for compressed and archived images. */
  hint?: string;
}

const starts = (head: Uint8Array, bytes: number[]) => bytes.every((b, i) => head[i] === b);

const FOREIGN: Foreign[] = [
  { name: 'VMDK (sparse extent)', test: ({ head }) => ascii(head, 0, 4) === 'KDMV' },
  { name: 'VMDK (ESX COW sparse extent)', test: ({ head }) => ascii(head, 0, 4) === 'COWD' },
  { name: 'VMDK (descriptor)', test: ({ head }) => /^\s*# Disk DescriptorFile/.test(headText(head) ?? '') },
  { name: 'qcow', test: ({ head }) => ascii(head, 0, 4) === 'QFI\xfb' && head[7] === 1 },
  { name: 'qcow2', test: ({ head }) => ascii(head, 0, 4) === 'QFI\xfb' },
  { name: 'LUKS (encrypted)', test: ({ head }) => ascii(head, 0, 6) === 'LUKS\xba\xbe' },
  { name: 'QED', test: ({ head }) => ascii(head, 0, 4) === 'QED\0' },
  // VirtualBox: a text banner, then the signature 0xbeda107f at byte 64.
  { name: 'VDI (VirtualBox)', test: ({ head }) => head.length >= 68 && head[64] === 0x7f && head[65] === 0x10 && head[66] === 0xda && head[67] === 0xbe },
  { name: 'Bochs', test: ({ head }) => ascii(head, 0, 22) === 'Bochs Virtual HD Image' },
  { name: 'Parallels', test: ({ head }) => ['WithoutFreeSpace', 'WithouFreSpacExt'].includes(ascii(head, 0, 16)) },
  { name: 'cloop', test: ({ head }) => ascii(head, 0, 10) === '#!/bin/sh\n' && /^#V\d\.\d Format\n.*cloop/m.test(ascii(head, 10, 128)) },
  // Nero: a footer "NER5" + 64-bit chunk offset (v2) or "NERO" + 32-bit offset (v1) at the very end.
  { name: 'Nero NRG', test: ({ tail }) => ascii(tail, tail.length - 12, 4) === 'NER5' || ascii(tail, tail.length - 8, 4) === 'NERO' },
  { name: 'EnCase (EWF/E01)', test: ({ head }) => starts(head, [0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]) },
  { name: 'Windows Imaging (WIM)', test: ({ head }) => ascii(head, 0, 8) === 'MSWIM\0\0\0' },
  // Compressed or archived disk images (a Raspberry Pi .img.xz): the container's bytes are not a disk.
  { name: 'gzip-compressed', test: ({ head }) => starts(head, [0x1f, 0x8b, 0x08]), hint: 'decompress it first (gunzip -k)' },
  { name: 'xz-compressed', test: ({ head }) => starts(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), hint: 'decompress it first (unxz -k)' },
  { name: 'zstd-compressed', test: ({ head }) => starts(head, [0x28, 0xb5, 0x2f, 0xfd]), hint: 'decompress it first (unzstd)' },
  { name: 'bzip2-compressed', test: ({ head }) => ascii(head, 0, 3) === 'BZh' && head[3]! >= 0x31 && head[3]! <= 0x39 && starts(head.subarray(4), [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]), hint: 'decompress it first (bunzip2 -k)' },
  { name: 'zip archive', test: ({ head }) => starts(head, [0x50, 0x4b, 0x03, 0x04]), hint: 'extract the image from it first (unzip)' },
  { name: '7z archive', test: ({ head }) => starts(head, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]), hint: 'extract the image from it first (7z x)' },
  // A cdrdao TOC (often named .cue): `TRACK MODE1` with no track number (a CUE sheet says `TRACK 01 MODE1/2352`).
  {
    name: 'cdrdao TOC',
    test: ({ head }) => /^\s*TRACK\s+(AUDIO|MODE0|MODE1|MODE1_RAW|MODE2|MODE2_RAW|MODE2_FORM1|MODE2_FORM2|MODE2_FORM_MIX)\s*(\/\/.*)?$/m.test(headText(head) ?? ''),
  },
];

/** The name of a format diskit does not read (and what to do instead), when the file carries its signature. */
export function foreignFormat(input: ProbeInput): { name: string; hint?: string } | undefined {
  const f = FOREIGN.find((x) => x.test(input));
  return f && { name: f.name, hint: f.hint };
}
