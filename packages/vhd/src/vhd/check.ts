/** `check` for VHD: footers and their copy, BAT entries against the file and the metadata, overlaps, orphaned space. */
import type { CheckReport, Problem } from '@diskit/core';
import { bytesEqual, roundUp } from '../util.js';
import { VHD_FOOTER_SIZE, footerBytesOf, footerSound, vhdChecksum, withChecksum } from './footer.js';
import { VHD_HEADER_SIZE } from './dynamic-header.js';
import { UNALLOCATED } from './bat.js';
import { NO_LOCATOR } from './parent-locator.js';
import type { VhdImage } from './image.js';

/** Rewrite damaged footers: the one at the end from a good copy (or with its checksum fixed), and the copy at 0. */
async function repairFooters(img: VhdImage): Promise<string[]> {
  const done: string[] = [];
  let fb = img.footerBytes;
  if (vhdChecksum(fb, 64) !== img.footer.checksum) {
    fb = footerBytesOf(img.footer);
    done.push('recomputed the footer checksum');
  }
  const tail = new Uint8Array(512);
  const tailOff = img.file.size - 512;
  if (tailOff >= 0) await img.file.read(tail, tailOff);
  if (img.footerOffset !== tailOff || !bytesEqual(tail, fb)) {
    await img.file.write(fb, img.footerOffset);
    done.push(`rewrote the footer at ${img.footerOffset}`);
  }
  if (img.header) {
    const head = new Uint8Array(512);
    await img.file.read(head, 0);
    if (!bytesEqual(head, fb)) {
      await img.file.write(fb, 0);
      done.push('rewrote the footer copy at offset 0');
    }
  }
  img.footerBytes = fb;
  if (img.header && img.ownWarnings.some((w) => w.structure === 'VHD dynamic header')) {
    const at = Number(img.footer.dataOffset);
    const hb = new Uint8Array(VHD_HEADER_SIZE);
    await img.file.read(hb, at);
    await img.file.write(withChecksum(hb, 36), at);
    done.push('recomputed the dynamic header checksum');
  }
  if (done.length) {
    const warnings = img.ownWarnings;
    for (let i = warnings.length - 1; i >= 0; i--) if (/^VHD (footer|dynamic header)$/.test(warnings[i]!.structure ?? '')) warnings.splice(i, 1);
    await img.file.flush();
  }
  return done;
}

/** The file's own problems (the image adds its parent's). */
export async function checkVhd(img: VhdImage, opts: { repair?: boolean } = {}): Promise<CheckReport> {
  const repaired = opts.repair && !img.readOnly ? await repairFooters(img) : undefined;
  // Damage read around at open is an error here.
  const problems: Problem[] = [...img.ownWarnings.map((w) => ({ ...w, severity: 'error' as const })), ...img.openProblems];
  const f = img.footer;
  if (img.footerBytes.length === 512 && vhdChecksum(img.footerBytes, 64) !== f.checksum && !problems.some((p) => p.structure === 'VHD footer')) {
    problems.push({ severity: 'error', structure: 'VHD footer', offset: img.footerOffset, message: 'footer checksum mismatch' });
  }
  if (img.header && img.bat) {
    // The copy at offset 0 must match the footer.
    const head = new Uint8Array(512);
    await img.file.read(head, 0);
    if (!footerSound(head)) {
      problems.push({ severity: 'error', structure: 'VHD footer copy', offset: 0, message: 'footer copy at offset 0 is missing or has a bad checksum' });
    }
    problems.push(...batProblems(img));
  }
  return repaired ? { problems, repaired } : { problems };
}

/** BAT entries past the file or into the metadata, overlapping blocks, orphaned space, locators past the end. */
function batProblems(img: VhdImage): Problem[] {
  const problems: Problem[] = [];
  const h = img.header!;
  const bat = img.bat!;
  const metaEnd = h.tableOffset + roundUp(h.maxTableEntries * 4, 512);
  const hdrOff = Number(img.footer.dataOffset);
  const meta: [number, number, string][] = [[0, VHD_FOOTER_SIZE, 'footer copy'], [hdrOff, hdrOff + VHD_HEADER_SIZE, 'dynamic header'], [h.tableOffset, metaEnd, 'BAT']];
  for (const l of h.parentLocators) {
    if (l.platformCode !== NO_LOCATOR && l.platformDataLength) meta.push([l.platformDataOffset, l.platformDataOffset + l.platformDataLength, `${l.platformCode} parent locator`]);
  }
  const spans: [number, number, number][] = [];
  const span = img.bitmapSize + img.blockSize;
  const needed = Math.ceil(img.size / img.blockSize);
  for (let i = 0; i < bat.length; i++) {
    const e = bat[i]!;
    if (e === UNALLOCATED) continue;
    const off = e * 512;
    if (i >= needed) problems.push({ severity: 'warning', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `entry ${i} lies past the disk's end but is allocated` });
    const need = img.bitmapSize + Math.max(0, Math.min(img.blockSize, img.size - i * img.blockSize));
    const overlapped = meta.find(([s, e]) => off < e && off + span > s);
    if (off + need > img.file.size - (img.footerOffset < img.file.size ? 512 : 0)) {
      problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `block ${i} at ${off} extends past the end of the file (${img.file.size})` });
    } else if (overlapped) {
      problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + i * 4, message: `block ${i} at ${off} overlaps the ${overlapped[2]}` });
    }
    spans.push([off, off + span, i]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) {
      problems.push({ severity: 'error', structure: 'VHD BAT', offset: h.tableOffset + spans[i]![2] * 4, message: `block ${spans[i]![2]} overlaps block ${spans[i - 1]![2]}` });
    }
  }
  // Orphaned space: whole blocks' worth of bytes between the metadata and the footer that no BAT entry owns.
  let cursor = metaEnd;
  for (const [s, e] of spans) {
    if (s - cursor >= span) problems.push({ severity: 'warning', structure: 'VHD data', offset: cursor, message: `${s - cursor} bytes at ${cursor} belong to no block (orphaned)` });
    cursor = Math.max(cursor, e);
  }
  const tailEnd = Math.min(img.footerOffset, img.file.size);
  if (tailEnd - cursor >= span) problems.push({ severity: 'warning', structure: 'VHD data', offset: cursor, message: `${tailEnd - cursor} bytes at ${cursor} belong to no block (orphaned)` });
  for (const l of h.parentLocators) {
    if (l.platformCode === NO_LOCATOR || !l.platformDataLength) continue;
    if (l.platformDataOffset + l.platformDataLength > img.file.size) {
      problems.push({ severity: 'error', structure: 'VHD parent locator', offset: l.platformDataOffset, message: `${l.platformCode} locator data lies past the end of the file` });
    }
  }
  return problems;
}
