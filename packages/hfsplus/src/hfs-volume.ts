/** A mounted HFS+ / HFSX volume: paths resolved through the catalog, files read through their forks. */
import {
  CorruptImageError, PartialDirectoryError, SliceDevice, UsageError, normalizePath,
  type BlockDevice, type CheckReport, type FileEntry, type StreamEntry, type Structure, type Volume,
} from '@diskit/core';
import { BTree } from './btree.js';
import {
  ATTRIBUTES_FILE_ID, CATALOG_FILE_ID, REC_FILE, REC_FOLDER, REC_FOLDER_THREAD, ROOT_FOLDER_ID, ROOT_PARENT_ID,
  catalogComparator, keyParent, parseCatalogKey, parseCatalogRecord, type CatalogFile, type CatalogFolder,
} from './catalog.js';
import { FORK_DATA, FORK_RESOURCE, forkExtents } from './extents.js';
import { ForkDevice, runsOf } from './fork.js';
import { HEADER_OFFSET, locateVolume, parseVolumeHeader, type ForkData, type VolumeHeader } from './volume-header.js';
import { listAttributes } from './attributes.js';
import { DECMPFS_XATTR, DecmpfsDevice } from './decmpfs.js';
import { isCompressed, isDirHardLink, isFileHardLink, isSymlink, posixName, storedName, toEntry } from './entry.js';
import { volumeInfo } from './info.js';
import { Forks } from './forks.js';
import { checkVolume } from './check.js';

type Rec = CatalogFolder | CatalogFile;

/** What a path leads to: the record after hard links, under the name it is listed as. */
interface Resolved {
  rec: Rec;
  /** The name as stored in the catalog. */
  name: string;
  /** The parent folder the name lives in. */
  parentID: number;
  /** The link file, when the name is a hard link. */
  link?: CatalogFile;
  where: number;
}

/** A folder reached by a path: its ID, the IDs above it, and where its thread must point. */
interface DirRef {
  id: number;
  chain: number[];
  rec: CatalogFolder;
  name: string;
  expectParent: number;
  linked: boolean;
  /** Reached through a directory hard link somewhere above (or itself one). */
  viaLink: boolean;
}

const PRIVATE_FILES = '\0\0\0\0HFS+ Private Data';
const PRIVATE_DIRS = '.HFS+ Private Directory Data\r';
const MAX_DEPTH = 4096;
const DIR_CACHE = 4096;
/**
 * Entries listed through directory hard links, in all: a folder linked from many places is listed
 * under each (as on a Mac), but a crafted chain of links could make a walk exponential.
 */
const MAX_LINKED_ENTRIES = 1_000_000;

export class HfsVolume implements Volume {
  readonly type: string;
  /** Things noticed while reading that did not stop it (counts that disagree, …). */
  readonly problems: { message: string; offset?: number }[] = [];
  private dirs = new Map<string, DirRef>();
  private linkedEntries = 0;
  private root!: DirRef;
  private privateFiles = 0;
  private privateDirs = 0;
  private readonly binary: boolean;
  private readonly forks: Forks;

  private constructor(
    readonly dev: BlockDevice,
    readonly header: VolumeHeader,
    readonly wrapped: boolean,
    readonly catalog: BTree,
    readonly extentsTree: BTree,
    readonly attributes: BTree | undefined,
    /** Where the HFS+ volume starts in the device it was mounted from (an HFS wrapper moves it). */
    readonly offset = 0,
  ) {
    this.binary = header.signature === 0x4858 && catalog.header.keyCompareType === 0xbc;
    this.forks = new Forks(dev, header, extentsTree, attributes);
    this.type = header.signature === 0x4858 ? 'hfsx' : 'hfsplus';
  }

  static async mount(device: BlockDevice): Promise<HfsVolume> {
    const at = await locateVolume(device);
    const dev = at.wrapped ? new SliceDevice(device, at.offset, at.length) : device;
    const raw = new Uint8Array(512);
    await dev.read(raw, HEADER_OFFSET);
    let header: VolumeHeader;
    let alternate = false;
    try {
      header = parseVolumeHeader(raw, at.offset + HEADER_OFFSET);
    } catch (e) {
      // The alternate header sits 1024 bytes before the volume's end.
      if (dev.size < 2048) throw e;
      await dev.read(raw, dev.size - 1024);
      try {
        header = parseVolumeHeader(raw, at.offset + dev.size - 1024);
        alternate = true;
      } catch {
        throw e;
      }
    }
    const fork = (f: ForkData, what: string, where: number) => new ForkDevice(dev, runsOf(f.extents, f.logicalSize, header.blockSize, header.totalBlocks, what, where), f.logicalSize);
    const extentsTree = await BTree.open('extents', fork(header.extentsFile, 'HFS+ extents file', HEADER_OFFSET + 192));
    const treeFork = async (f: ForkData, id: number, what: string, where: number) => {
      const ext = await forkExtents(f, id, FORK_DATA, extentsTree, where);
      return new ForkDevice(dev, runsOf(ext, f.logicalSize, header.blockSize, header.totalBlocks, what, where), f.logicalSize);
    };
    const catalog = await BTree.open('catalog', await treeFork(header.catalogFile, CATALOG_FILE_ID, 'HFS+ catalog file', HEADER_OFFSET + 272));
    const attributes = header.attributesFile.logicalSize > 0
      ? await BTree.open('attributes', await treeFork(header.attributesFile, ATTRIBUTES_FILE_ID, 'HFS+ attributes file', HEADER_OFFSET + 352))
      : undefined;
    const vol = new HfsVolume(dev, header, at.wrapped, catalog, extentsTree, attributes, at.offset);
    if (alternate) vol.problems.push({ message: 'the volume header is damaged: read through the alternate header at the end', offset: at.offset + HEADER_OFFSET });
    await vol.init();
    return vol;
  }

  private async init(): Promise<void> {
    const thread = await this.findRecord(ROOT_FOLDER_ID, '');
    if (!thread || thread.rec.type !== REC_FOLDER_THREAD || thread.rec.parentID !== ROOT_PARENT_ID) {
      throw new CorruptImageError('HFS+ catalog', this.catalog.where(await this.catalog.node(this.catalog.header.rootNode)), 'a thread record for the root folder', 'none');
    }
    const root = await this.findRecord(ROOT_PARENT_ID, thread.rec.name);
    if (!root || root.rec.type !== REC_FOLDER) throw new CorruptImageError('HFS+ catalog', thread.where, `the root folder record ${JSON.stringify(thread.rec.name)}`, 'none');
    this.root = { id: ROOT_FOLDER_ID, chain: [ROOT_FOLDER_ID], rec: root.rec, name: thread.rec.name, expectParent: ROOT_PARENT_ID, linked: false, viaLink: false };
    const pf = await this.findRecord(ROOT_FOLDER_ID, PRIVATE_FILES);
    if (pf?.rec.type === REC_FOLDER) this.privateFiles = pf.rec.id;
    const pd = await this.findRecord(ROOT_FOLDER_ID, PRIVATE_DIRS);
    if (pd?.rec.type === REC_FOLDER) this.privateDirs = pd.rec.id;
  }

  get volumeName(): string {
    return this.root.name;
  }

  /** The catalog record keyed exactly (by the volume's comparison) by (parentID, name). */
  private async findRecord(parentID: number, name: string) {
    const cmp = catalogComparator(parentID, name, this.binary);
    const at = await this.catalog.seek(cmp);
    if (!at) return undefined;
    const r = this.catalog.record(at.node, at.index);
    if (cmp(r.key) !== 0) return undefined;
    const where = this.catalog.where(at.node, at.index);
    return { key: parseCatalogKey(r.key, where), rec: parseCatalogRecord(r.data, where), where };
  }

  /** Look a user-given name up in a folder: as typed, decomposed (as HFS+ stores names), else by scanning. */
  private async lookup(parentID: number, posix: string): Promise<{ name: string; rec: Rec; where: number } | undefined> {
    const stored = storedName(posix);
    for (const n of new Set([stored, stored.normalize('NFD')])) {
      const f = await this.findRecord(parentID, n);
      if (f && (f.rec.type === REC_FOLDER || f.rec.type === REC_FILE)) return { name: f.key.name, rec: f.rec, where: f.where };
    }
    // Our fold table could order a rare script unlike Apple's: scan the folder before saying "missing".
    if (this.binary || /^[\x00-\x7f]*$/.test(stored)) return undefined;
    for await (const r of this.catalog.scan(catalogComparator(parentID, '', this.binary), (k) => keyParent(k) === parentID)) {
      const key = parseCatalogKey(r.key, r.where);
      if (key.name !== stored && key.name.normalize('NFD') !== stored.normalize('NFD')) continue;
      const rec = parseCatalogRecord(r.data, r.where);
      if (rec.type === REC_FOLDER || rec.type === REC_FILE) return { name: key.name, rec, where: r.where };
    }
    return undefined;
  }

  /** Follow a file or directory hard link to the record in the private folder. */
  private async followLink(f: CatalogFile, where: number): Promise<Rec> {
    const dir = isDirHardLink(f);
    const folder = dir ? this.privateDirs : this.privateFiles;
    const name = `${dir ? 'dir_' : 'iNode'}${f.bsd.special}`;
    const t = folder ? await this.findRecord(folder, name) : undefined;
    if (!t || t.rec.type !== (dir ? REC_FOLDER : REC_FILE)) {
      throw new CorruptImageError(`HFS+ ${dir ? 'directory' : 'file'} hard link`, where, `${name} in the private data folder`, 'none');
    }
    return t.rec as Rec;
  }

  private async resolve(path: string): Promise<Resolved & { dir?: DirRef }> {
    const p = normalizePath(path);
    if (p === '/') return { rec: this.root.rec, name: this.root.name, parentID: ROOT_PARENT_ID, where: 0, dir: this.root };
    const slash = p.lastIndexOf('/');
    const parent = await this.dirRef(p.slice(0, slash) || '/', path);
    const hit = await this.lookup(parent.id, p.slice(slash + 1));
    if (!hit || (parent.id === ROOT_FOLDER_ID && (hit.rec.id === this.privateFiles || hit.rec.id === this.privateDirs) && hit.rec.type === REC_FOLDER)) {
      throw new UsageError(`${path}: no such file or directory`);
    }
    if (hit.rec.type === REC_FILE && (isFileHardLink(hit.rec) || isDirHardLink(hit.rec))) {
      return { rec: await this.followLink(hit.rec, hit.where), name: hit.name, parentID: parent.id, link: hit.rec, where: hit.where };
    }
    return { rec: hit.rec, name: hit.name, parentID: parent.id, where: hit.where };
  }

  /** The folder a path names (cached: a walk asks for every folder's parent again and again). */
  private async dirRef(p: string, asked = p): Promise<DirRef> {
    if (p === '/') return this.root;
    const hit = this.dirs.get(p);
    if (hit) return hit;
    const slash = p.lastIndexOf('/');
    const parent = await this.dirRef(p.slice(0, slash) || '/', asked);
    const r = await this.resolve(p);
    if (r.rec.type !== REC_FOLDER) throw new UsageError(`${asked}: not a directory`);
    if (parent.chain.includes(r.rec.id) || parent.chain.length >= MAX_DEPTH) {
      throw new CorruptImageError('HFS+ folder', r.where, `a folder that is not its own ancestor (depth below ${MAX_DEPTH})`, `folder ${r.rec.id} inside itself at ${p}`);
    }
    const ref: DirRef = {
      id: r.rec.id, chain: [...parent.chain, r.rec.id], rec: r.rec, name: r.link ? `dir_${r.link.bsd.special}` : r.name,
      expectParent: r.link ? this.privateDirs : parent.id, linked: !!r.link, viaLink: parent.viaLink || !!r.link,
    };
    if (this.dirs.size >= DIR_CACHE) this.dirs.delete(this.dirs.keys().next().value!);
    this.dirs.set(p, ref);
    return ref;
  }

  private async entryOf(dirPath: string, name: string, rec: Rec, where: number): Promise<FileEntry | undefined> {
    const path = (dirPath === '/' ? '/' : dirPath + '/') + posixName(name);
    const shown = posixName(name);
    if (rec.type === REC_FOLDER) return toEntry(path, shown, rec);
    if (isFileHardLink(rec) || isDirHardLink(rec)) {
      const target = await this.followLink(rec, where);
      if (target.type === REC_FOLDER) return toEntry(path, shown, target);
      return toEntry(path, shown, target, await this.forks.fileSize(target), { nlink: target.bsd.special || 1 });
    }
    if (isSymlink(rec)) return toEntry(path, shown, rec, rec.dataFork.logicalSize, { target: await this.forks.symlinkTarget(rec, where) });
    return toEntry(path, shown, rec, await this.forks.fileSize(rec));
  }

  async stat(path: string): Promise<FileEntry> {
    const p = normalizePath(path);
    const r = await this.resolve(p);
    if (p === '/') return { ...toEntry('/', '', r.rec), path: '/', name: '' };
    const e = await this.entryOf(p.slice(0, p.lastIndexOf('/')) || '/', r.name, r.link ?? r.rec, r.where);
    return e!;
  }

  /**
   * A folder's entries. Damage to one record (a hard link without its iNode, a bad decmpfs
   * header) or to the B-tree after some entries were read ends in a PartialDirectoryError carrying
   * the readable entries: the walker reports it and lists the rest, never a silently short folder.
   */
  async readdir(path: string): Promise<FileEntry[]> {
    const p = normalizePath(path);
    const dir = await this.dirRef(p);
    const out: FileEntry[] = [];
    const damaged: CorruptImageError[] = [];
    let thread = false;
    let children = 0;
    try {
      for await (const r of this.catalog.scan(catalogComparator(dir.id, '', this.binary), (k) => keyParent(k) === dir.id)) {
        const key = parseCatalogKey(r.key, r.where);
        if (!thread) {
          // The folder's thread comes first and must name the folder we came from.
          const rec = parseCatalogRecord(r.data, r.where);
          if (key.name !== '' || rec.type !== REC_FOLDER_THREAD || rec.parentID !== dir.expectParent || rec.name !== dir.name) {
            throw new CorruptImageError('HFS+ folder thread', r.where, `the thread of folder ${dir.id} pointing at parent ${dir.expectParent} ${JSON.stringify(dir.name)}`, `type ${rec.type}, parent ${'parentID' in rec ? rec.parentID : '?'} ${JSON.stringify('name' in rec ? rec.name : '')}`);
          }
          thread = true;
          continue;
        }
        children++;
        try {
          const rec = parseCatalogRecord(r.data, r.where);
          if (rec.type !== REC_FOLDER && rec.type !== REC_FILE) throw new CorruptImageError('HFS+ catalog', r.where, `a folder or file record in folder ${dir.id}`, `record type ${rec.type}`);
          if (dir.id === ROOT_FOLDER_ID && rec.type === REC_FOLDER && (rec.id === this.privateFiles || rec.id === this.privateDirs)) continue;
          const e = await this.entryOf(p, key.name, rec, r.where);
          if (e) out.push(e);
        } catch (e) {
          if (!(e instanceof CorruptImageError)) throw e;
          damaged.push(e);
        }
      }
    } catch (e) {
      // The tree itself broke: what was read before is still good.
      if (!(e instanceof CorruptImageError) || !thread) throw e;
      damaged.push(e);
    }
    if (!thread) throw new CorruptImageError('HFS+ catalog', 0, `a thread record for folder ${dir.id} (${p})`, 'none');
    if (dir.viaLink && (this.linkedEntries += out.length) > MAX_LINKED_ENTRIES) {
      throw new CorruptImageError('HFS+ directory hard links', 0, `at most ${MAX_LINKED_ENTRIES} entries reached through directory hard links`, `more at ${p}`);
    }
    if (damaged.length) throw new PartialDirectoryError(out, damaged);
    if (children !== dir.rec.valence) this.problems.push({ message: `${p}: folder record says ${dir.rec.valence} entries, the catalog holds ${children}` });
    return out;
  }

  async openFile(path: string): Promise<BlockDevice> {
    const r = await this.resolve(path);
    if (r.rec.type === REC_FOLDER) throw new UsageError(`${path}: is a directory`);
    const f = r.rec;
    if (isCompressed(f) && !isSymlink(f)) {
      const { header, where } = await this.forks.decmpfs(f);
      return DecmpfsDevice.open(header, where, () => this.forks.forkDevice(f, FORK_RESOURCE, r.where));
    }
    return this.forks.forkDevice(f, FORK_DATA, r.where);
  }

  async streams(path: string): Promise<StreamEntry[]> {
    const r = await this.resolve(path);
    const out: StreamEntry[] = [];
    const compressed = r.rec.type === REC_FILE && isCompressed(r.rec);
    if (r.rec.type === REC_FILE && r.rec.resourceFork.logicalSize > 0 && !compressed) {
      out.push({ name: 'rsrc', size: r.rec.resourceFork.logicalSize, kind: 'resource-fork' });
    }
    for (const a of await listAttributes(this.attributes, r.rec.id)) {
      if (compressed && a.name === DECMPFS_XATTR) continue;
      out.push({ name: a.name, size: a.size, kind: 'xattr' });
    }
    return out;
  }

  async openStream(path: string, name: string): Promise<BlockDevice> {
    const r = await this.resolve(path);
    if (name === 'rsrc' && r.rec.type === REC_FILE) return this.forks.forkDevice(r.rec, FORK_RESOURCE, r.where);
    const a = (await listAttributes(this.attributes, r.rec.id)).find((x) => x.name === name);
    if (!a) throw new UsageError(`${path}: no stream ${JSON.stringify(name)}`);
    return this.forks.attributeDevice(r.rec.id, a);
  }

  /** The volume headers and the first nodes of each B-tree, with their offsets in the mounted device. */
  async structures(maxNodes = 24): Promise<Structure[]> {
    const { allocationFile, extentsFile, catalogFile, attributesFile, startupFile, ...fields } = this.header;
    const forks = { allocationFile, extentsFile, catalogFile, attributesFile, startupFile };
    const out: Structure[] = [
      { name: 'HFS+ volume header', offset: this.offset + HEADER_OFFSET, size: 512, fields: { ...fields, signature: fields.signature === 0x4858 ? 'HX' : 'H+', forks: JSON.stringify(forks) } },
      { name: 'HFS+ alternate volume header', offset: this.offset + this.header.totalBlocks * this.header.blockSize - 1024, size: 512, fields: {} },
    ];
    for (const t of [this.extentsTree, this.catalog, this.attributes]) {
      if (!t) continue;
      // The header node with its fields; the first nodes after it (mutation targets for the fuzz harness).
      out.push({ name: `HFS+ ${t.name} B-tree header node`, offset: this.offset + t.nodeOffset(0), size: t.header.nodeSize, fields: { ...t.header } });
      for (let n = 1; n < Math.min(t.header.totalNodes, maxNodes); n++) {
        out.push({ name: `HFS+ ${t.name} B-tree node ${n}`, offset: this.offset + t.nodeOffset(n), size: t.header.nodeSize, fields: {} });
      }
    }
    return out;
  }

  /** `diskit check`: the catalog walked once, its counts, threads, order and forks checked. */
  async check(): Promise<CheckReport> {
    return checkVolume(this.dev, this.header, this.catalog, this.offset);
  }

  async info(): Promise<Record<string, unknown>> {
    return volumeInfo(this.dev, this.header, {
      volumeName: this.volumeName, wrapped: this.wrapped, caseSensitive: this.binary,
      catalogNodeSize: this.catalog.header.nodeSize, hasAttributes: !!this.attributes,
      ...(this.problems.length ? { problems: this.problems.map((p) => p.message) } : {}),
    });
  }
}
