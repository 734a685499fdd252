/** Path tables (L and M) checked against the directory tree they index. */
import type { BlockDevice, Problem } from '@diskit/core';
import { SECTOR, parsePathTable, parseDirRecord, FLAG_DIRECTORY, type PathTableEntry } from './structs.js';
import type { DescriptorInfo } from './reader/index.js';

const MAX_DIRS = 65535;

/** Directories of a descriptor's tree in path-table order: (name bytes, extent, parent number). */
export async function expectedPathTable(dev: BlockDevice, d: DescriptorInfo, problems: Problem[]): Promise<{ name: Uint8Array; extent: number; parent: number }[]> {
  const root = parseDirRecord(d.raw!.rootRecord);
  const out = [{ name: Uint8Array.of(0), extent: root.extent, parent: 1, size: root.dataLength }];
  const seen = new Set<number>([root.extent]);
  for (let i = 0; i < out.length; i++) {
    const dir = out[i]!;
    const off = dir.extent * SECTOR;
    if (dir.size > 64 << 20 || off + dir.size > dev.size) {
      problems.push({ severity: 'error', structure: 'directory', offset: off, message: `directory extent [${off}, ${off + dir.size}) lies outside the image` });
      continue;
    }
    const data = new Uint8Array(dir.size);
    await dev.read(data, off);
    const kids: { name: Uint8Array; extent: number; parent: number; size: number }[] = [];
    let pos = 0, index = 0;
    while (pos < data.length) {
      const len = data[pos]!;
      if (len === 0) {
        pos = (Math.floor(pos / SECTOR) + 1) * SECTOR;
        continue;
      }
      if (len < 33 || pos + len > data.length) {
        problems.push({ severity: 'error', structure: 'directory record', offset: off + pos, message: `bad record length ${len}` });
        break;
      }
      const r = parseDirRecord(data.subarray(pos, pos + len));
      const name = data.slice(pos + 33, pos + 33 + r.nameLength);
      pos += len;
      if (index++ < 2) continue;
      if (!(r.flags & FLAG_DIRECTORY)) continue;
      if (seen.has(r.extent)) {
        problems.push({ severity: 'error', structure: 'directory record', offset: off + pos - len, message: `directory loop: extent ${r.extent} is listed twice` });
        continue;
      }
      seen.add(r.extent);
      kids.push({ name, extent: r.extent, parent: i + 1, size: r.dataLength });
    }
    out.push(...kids);
    if (out.length > MAX_DIRS) {
      problems.push({ severity: 'error', structure: 'path table', offset: d.offset, message: `more than ${MAX_DIRS} directories` });
      break;
    }
  }
  return out.map(({ name, extent, parent }) => ({ name, extent, parent }));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function checkPathTables(dev: BlockDevice, d: DescriptorInfo): Promise<Problem[]> {
  const problems: Problem[] = [];
  const raw = d.raw!;
  const expected = await expectedPathTable(dev, d, problems);
  for (const [which, lba, be] of [['L', raw.lPathTable, false], ['M', raw.mPathTable, true]] as const) {
    const off = lba * SECTOR;
    const structure = `${which} path table (${d.kind})`;
    if (off + raw.pathTableSize > dev.size || raw.pathTableSize > 16 << 20) {
      problems.push({ severity: 'error', structure, offset: off, message: `table of ${raw.pathTableSize} bytes lies outside the image` });
      continue;
    }
    const b = new Uint8Array(raw.pathTableSize);
    await dev.read(b, off);
    let entries: PathTableEntry[];
    try {
      entries = parsePathTable(b, be, off);
    } catch (e) {
      problems.push({ severity: 'error', structure, offset: off, message: String((e as Error).message) });
      continue;
    }
    if (entries.length !== expected.length) {
      problems.push({ severity: 'error', structure, offset: off, message: `${entries.length} records but the tree has ${expected.length} directories` });
    }
    const n = Math.min(entries.length, expected.length);
    for (let i = 0; i < n; i++) {
      const e = entries[i]!, x = expected[i]!;
      if (e.extent !== x.extent || e.parent !== x.parent || (i > 0 && !sameBytes(e.name, x.name))) {
        problems.push({ severity: 'error', structure, offset: off + e.offset, message: `record ${i + 1} (extent ${e.extent}, parent ${e.parent}) does not match the tree (extent ${x.extent}, parent ${x.parent})` });
        break;
      }
    }
  }
  return problems;
}
