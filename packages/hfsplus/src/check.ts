/**
 * `diskit check` for HFS+: one pass along the catalog's leaves (bounded memory: a count per
 * folder), checking what fsck_hfs checks first: the leaf chain and record order, the header's
 * counts, every folder's valence, a thread for every folder and file and a record for every
 * thread, every fork inside the volume, and the alternate volume header.
 */
import { DiskitError, type CheckReport, type Problem } from '@diskit/core';
import type { BTree } from './btree.js';
import { REC_FILE, REC_FOLDER, ROOT_PARENT_ID, parseCatalogKey, parseCatalogRecord } from './catalog.js';
import type { ForkData, VolumeHeader } from './volume-header.js';
import { parseVolumeHeader } from './volume-header.js';
import type { BlockDevice } from '@diskit/core';

/** At most this many problems are listed (a badly damaged volume would otherwise list millions). */
const MAX_PROBLEMS = 200;

export async function checkVolume(dev: BlockDevice, header: VolumeHeader, catalog: BTree, offset: number): Promise<CheckReport> {
  const problems: Problem[] = [];
  const add = (structure: string, at: number, message: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ severity: 'error', structure, offset: offset + at, message });
  };
  // The alternate header must be there and agree on the volume's shape.
  const altAt = header.totalBlocks * header.blockSize - 1024;
  if (altAt + 512 > dev.size) add('HFS+ alternate volume header', altAt, `the device ends at ${dev.size}, before the alternate header at ${altAt}`);
  else {
    const raw = new Uint8Array(512);
    await dev.read(raw, altAt);
    try {
      const alt = parseVolumeHeader(raw, offset + altAt);
      if (alt.blockSize !== header.blockSize || alt.totalBlocks !== header.totalBlocks || alt.catalogFile.extents[0]?.startBlock !== header.catalogFile.extents[0]?.startBlock) {
        add('HFS+ alternate volume header', altAt, 'the alternate header disagrees with the primary on block size, block count or the catalog');
      }
    } catch (e) {
      add('HFS+ alternate volume header', altAt, (e as Error).message);
    }
  }

  const valence = new Map<number, number>(); // folder ID → children seen
  const expected = new Map<number, number>(); // folder ID → its record's valence
  const records = new Set<number>(); // IDs with a folder or file record
  const threads = new Map<number, number>(); // ID → where its thread is
  let files = 0, folders = 0, leafRecords = 0;
  let prevParent = -1;
  const forkInside = (f: ForkData, id: number, where: number) => {
    for (const e of f.extents) if (e.startBlock + e.blockCount > header.totalBlocks) add('HFS+ fork', where, `file ${id}: extent ${e.startBlock}+${e.blockCount} past the volume's ${header.totalBlocks} blocks`);
  };
  try {
    for await (const r of catalog.scan(() => 1, () => true)) {
      leafRecords++;
      const key = parseCatalogKey(r.key, r.where);
      if (key.parentID < prevParent) add('HFS+ catalog', r.where, `records out of order: parent ${key.parentID} after ${prevParent}`);
      prevParent = key.parentID;
      const rec = parseCatalogRecord(r.data, r.where);
      if (rec.type !== REC_FOLDER && rec.type !== REC_FILE) {
        threads.set(key.parentID, r.where);
        continue;
      }
      valence.set(key.parentID, (valence.get(key.parentID) ?? 0) + 1);
      if (records.has(rec.id)) add('HFS+ catalog', r.where, `catalog node ID ${rec.id} used by two records`);
      records.add(rec.id);
      if (rec.type === REC_FOLDER) {
        expected.set(rec.id, rec.valence);
        if (key.parentID !== ROOT_PARENT_ID) folders++;
      } else if (rec.type === REC_FILE) {
        files++;
        forkInside(rec.dataFork, rec.id, r.where);
        forkInside(rec.resourceFork, rec.id, r.where);
      }
    }
  } catch (e) {
    if (!(e instanceof DiskitError)) throw e;
    add('HFS+ catalog', 0, `the catalog could not be read to its end: ${e.message}`);
  }
  const catalogAt = catalog.nodeOffset(0);
  if (leafRecords !== catalog.header.leafRecords) add('HFS+ catalog B-tree header', catalogAt + 20, `header says ${catalog.header.leafRecords} leaf records, the leaves hold ${leafRecords}`);
  if (files !== header.fileCount) add('HFS+ volume header', 1024 + 32, `header says ${header.fileCount} files, the catalog holds ${files}`);
  if (folders !== header.folderCount) add('HFS+ volume header', 1024 + 36, `header says ${header.folderCount} folders, the catalog holds ${folders}`);
  for (const [id, want] of expected) {
    const got = valence.get(id) ?? 0;
    if (got !== want) add('HFS+ folder record', 0, `folder ${id} says it holds ${want} entries, the catalog holds ${got}`);
  }
  for (const id of records) if (!threads.has(id)) add('HFS+ catalog', 0, `catalog node ${id} has no thread record`);
  for (const [id, where] of threads) if (!records.has(id)) add('HFS+ thread record', where, `thread of catalog node ${id}, which has no record`);
  return { problems };
}
