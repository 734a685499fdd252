/** `check` for VHDX: header and region table copies, the log, BAT entries against the file, the metadata and each other. */
import type { CheckReport, Problem } from '@diskit/core';
import { GUID_NAMES, MiB, REGION_TABLE_SIZE, VHDX_HEADER_OFFSETS, VHDX_REGION_OFFSETS } from './layout.js';
import { encodeVhdxHeader } from './header.js';
import { encodeRegionTable } from './region-table.js';
import { FULLY_PRESENT, PARTIALLY_PRESENT, isBitmapEntry } from './bat.js';
import { applyVhdxLog } from './log.js';
import type { VhdxImage } from './image.js';

/** Rewrite damaged headers from the current one, damaged region tables from the good copy (or the regions in use). */
async function repairCopies(img: VhdxImage): Promise<string[]> {
  const repaired: string[] = [];
  for (let bad = 0; bad < 2; bad++) {
    if (img.headersValid[bad]) continue;
    const h = { ...img.header, sequenceNumber: img.header.sequenceNumber + 1n };
    await img.file.write(encodeVhdxHeader(h), VHDX_HEADER_OFFSETS[bad]!);
    img.header = h;
    img.headerIndex = bad;
    repaired.push(`rewrote header ${bad + 1} from the current one`);
  }
  for (let bad = 0; bad < 2; bad++) {
    if (img.regionTablesValid[bad]) continue;
    let good: Uint8Array = encodeRegionTable(img.regions);
    if (img.regionTablesValid[1 - bad]) {
      good = new Uint8Array(REGION_TABLE_SIZE);
      await img.file.read(good, VHDX_REGION_OFFSETS[1 - bad]!);
    }
    await img.file.write(good, VHDX_REGION_OFFSETS[bad]!);
    repaired.push(`rewrote region table ${bad + 1} from ${img.regionTablesValid[1 - bad] ? 'the other copy' : 'the regions in use'}`);
  }
  if (repaired.length) {
    img.headersValid = [true, true];
    img.regionTablesValid = [true, true];
    img.ownWarnings.length = 0;
    await img.file.flush();
  }
  return repaired;
}

/** The file's own problems (the image adds its parent's). */
export async function checkVhdx(img: VhdxImage, opts: { repair?: boolean } = {}): Promise<CheckReport> {
  const problems: Problem[] = [];
  const repair = !!opts.repair && !img.readOnly;
  const repaired = repair ? await repairCopies(img) : [];
  img.headersValid.forEach((ok, i) => {
    if (!ok) problems.push({ severity: 'error', structure: 'VHDX header', offset: VHDX_HEADER_OFFSETS[i], message: `header ${i + 1} has a bad signature or CRC32C` });
  });
  img.regionTablesValid.forEach((ok, i) => {
    if (!ok) problems.push({ severity: 'error', structure: 'VHDX region table', offset: VHDX_REGION_OFFSETS[i], message: `region table ${i + 1} has a bad signature or CRC32C` });
  });
  if (img.log.length) {
    const n = img.log.length;
    if (repair) {
      await applyVhdxLog(img.file, img.log, img.header, img.headerIndex);
      repaired.push(`replayed ${n} log entr${n === 1 ? 'y' : 'ies'} into the file`);
      img.log = [];
      await img.load();
    } else {
      problems.push({ severity: 'warning', structure: 'VHDX log', offset: img.header.logOffset, message: `the log holds ${n} entr${n === 1 ? 'y' : 'ies'} to replay (read through an in-memory replay; check --repair on a writable open applies them)` });
    }
  }
  problems.push(...batProblems(img));
  return { problems, ...(opts.repair ? { repaired } : {}) };
}

/** BAT entries with invalid states, past the end of the file, over the metadata or over each other; orphaned space. */
function batProblems(img: VhdxImage): Problem[] {
  const problems: Problem[] = [];
  // Regions must not overlap each other or the first MiB.
  const spans: [number, number, string][] = [[0, MiB, 'headers'], [img.header.logOffset, img.header.logOffset + img.header.logLength, 'log']];
  for (const r of img.regions) spans.push([r.fileOffset, r.fileOffset + r.length, GUID_NAMES[r.guid] ?? r.guid]);
  const meta = spans.slice();
  const payload = Math.ceil(img.size / img.blockSize);
  for (let i = 0; i < img.batStates.length; i++) {
    const st = img.batStates[i]!;
    const isBitmap = isBitmapEntry(i, img.chunkRatio);
    if (isBitmap ? st !== 0 && st !== FULLY_PRESENT : st === 4 || st === 5) {
      problems.push({ severity: 'error', structure: 'VHDX BAT', offset: img.batOffset + i * 8, message: `entry ${i} has invalid state ${st}` });
      continue;
    }
    if (st !== FULLY_PRESENT && st !== PARTIALLY_PRESENT) continue;
    const off = img.batOffsets[i]! * MiB;
    const blk = isBitmap ? -1 : i - Math.floor(i / (img.chunkRatio + 1));
    const len = isBitmap ? MiB : img.blockSize;
    if (!isBitmap && blk >= payload) continue;
    const label = isBitmap ? `sector bitmap entry ${i}` : `payload block ${blk}`;
    if (off + (isBitmap ? MiB : Math.min(len, img.size - blk * img.blockSize)) > img.dev.size) {
      problems.push({ severity: 'error', structure: 'VHDX BAT', offset: img.batOffset + i * 8, message: `${label} at ${off} lies past the end of the file (${img.dev.size})` });
      continue;
    }
    for (const [s, e, name] of meta) {
      if (off < e && off + len > s) problems.push({ severity: 'error', structure: 'VHDX BAT', offset: img.batOffset + i * 8, message: `${label} at ${off} overlaps the ${name}` });
    }
    spans.push([off, off + len, label]);
  }
  const blocks = spans.slice(meta.length).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < blocks.length; i++) {
    if (blocks[i]![0] < blocks[i - 1]![1]) problems.push({ severity: 'error', structure: 'VHDX BAT', offset: blocks[i]![0], message: `${blocks[i]![2]} overlaps ${blocks[i - 1]![2]}` });
  }
  // Orphaned: space between or after payload blocks that nothing uses (dynamic images only;
  // the gap before the first block is left by writers such as qemu on purpose).
  if (img.variant === 'dynamic' && blocks.length) {
    let cursor = blocks[0]![1];
    let orphan = 0;
    for (const [s, e] of blocks) {
      if (s > cursor) orphan += s - cursor;
      cursor = Math.max(cursor, e);
    }
    for (const [s, e] of meta) if (s >= cursor) orphan -= e - s;
    if (img.dev.size > cursor) orphan += Math.floor((img.dev.size - cursor) / MiB) * MiB;
    if (orphan >= img.blockSize) problems.push({ severity: 'warning', structure: 'VHDX file', message: `${orphan} bytes after the first payload block belong to no block (orphaned)` });
  }
  return problems;
}
