/**
 * A small HFS+ volume written from scratch for tests: what no Linux tool makes (decmpfs-compressed
 * files, extended attributes, resource forks, hard links, fragmented forks). 7-Zip judges what it
 * holds; diskit must read the same. One folder level, ASCII names (their order is certain).
 */
import { foldName } from '../casefold.js';
import { unitsOf } from '../catalog.js';

const BS = 4096;
const NODE = 8192;
const EPOCH = 2082844800;

export interface BuildFile {
  name: string;
  data?: Uint8Array;
  rsrc?: Uint8Array;
  /** Extended attributes stored inline (name → value). */
  xattrs?: Record<string, Uint8Array>;
  /** Set UF_COMPRESSED (with a com.apple.decmpfs xattr among `xattrs`). */
  compressed?: boolean;
  /** Split the data fork into this many extents, the ones past eight in the extents overflow file. */
  fragments?: number;
  /** 'hlnk': a hard link to iNode<special> in the private folder. */
  hardLinkTo?: number;
  /** 'fdrp': a directory hard link to dir_<special> in the private directory folder. */
  dirLinkTo?: number;
  mode?: number;
}

class Writer {
  bytes: Uint8Array;
  view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
}

const be16 = (b: Uint8Array, o: number, v: number) => { b[o] = v >> 8; b[o + 1] = v & 255; };
const be32 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0);

function nameBytes(name: string): Uint8Array {
  const b = new Uint8Array(2 + name.length * 2);
  be16(b, 0, name.length);
  for (let i = 0; i < name.length; i++) be16(b, 2 + i * 2, name.charCodeAt(i));
  return b;
}

interface Rec { key: Uint8Array; data: Uint8Array; sort: [number, Uint16Array, number] }

function catalogKey(parent: number, name: string): Uint8Array {
  const n = nameBytes(name);
  const k = new Uint8Array(6 + n.length);
  be16(k, 0, 4 + n.length);
  be32(k, 2, parent);
  k.set(n, 6);
  return k;
}

function forkData(b: Uint8Array, off: number, size: number, extents: [number, number][]): void {
  const v = new DataView(b.buffer, b.byteOffset + off, 80);
  v.setUint32(4, size);
  v.setUint32(12, extents.reduce((s, e) => s + e[1], 0));
  extents.slice(0, 8).forEach(([s, c], i) => { v.setUint32(16 + i * 8, s); v.setUint32(20 + i * 8, c); });
}

function compareSort(a: Rec, b: Rec): number {
  if (a.sort[0] !== b.sort[0]) return a.sort[0] - b.sort[0];
  const x = a.sort[1], y = b.sort[1];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length || a.sort[2] - b.sort[2];
}

/** Leaves (and one index level above them when needed) of a B-tree, header node first. */
function btreeNodes(recs: Rec[], nodeSize: number, maxKeyLength: number, attributes: number, indexKey: (r: Rec) => Uint8Array): Uint8Array[] {
  recs.sort(compareSort);
  const leaves: Rec[][] = [[]];
  let used = 14 + 2;
  for (const r of recs) {
    const len = r.key.length + r.data.length + 2;
    if (used + len > nodeSize) { leaves.push([]); used = 14 + 2; }
    leaves[leaves.length - 1]!.push(r);
    used += len;
  }
  if (recs.length === 0) leaves.length = 0;
  const node = (kind: number, height: number, items: Uint8Array[], fLink = 0, bLink = 0) => {
    const b = new Uint8Array(nodeSize);
    be32(b, 0, fLink); be32(b, 4, bLink); b[8] = kind & 255; b[9] = height; be16(b, 10, items.length);
    let o = 14;
    items.forEach((it, i) => { be16(b, nodeSize - 2 - 2 * i, o); b.set(it, o); o += it.length; });
    be16(b, nodeSize - 2 - 2 * items.length, o);
    return b;
  };
  const join = (a: Uint8Array, c: Uint8Array) => { const x = new Uint8Array(a.length + c.length); x.set(a); x.set(c, a.length); return x; };
  const first = 1;
  const out: Uint8Array[] = [];
  leaves.forEach((l, i) => out.push(node(-1, 1, l.map((r) => join(r.key, r.data)), i + 1 < leaves.length ? first + i + 1 : 0, i > 0 ? first + i - 1 : 0)));
  let depth = leaves.length ? 1 : 0;
  let root = leaves.length ? 1 : 0;
  if (leaves.length > 1) {
    const ptr = (n: number) => { const p = new Uint8Array(4); be32(p, 0, n); return p; };
    out.push(node(0, 2, leaves.map((l, i) => join(indexKey(l[0]!), ptr(first + i)))));
    depth = 2;
    root = out.length;
  }
  const total = out.length + 1;
  const head = new Uint8Array(nodeSize);
  head[8] = 1; be16(head, 10, 3);
  const h = 14;
  be16(head, h, depth); be32(head, h + 2, root); be32(head, h + 6, recs.length);
  be32(head, h + 10, leaves.length ? 1 : 0); be32(head, h + 14, leaves.length);
  be16(head, h + 18, nodeSize); be16(head, h + 20, maxKeyLength); be32(head, h + 22, total); be32(head, h + 26, 0);
  be32(head, h + 32, nodeSize); be32(head, h + 38, attributes);
  const mapStart = 14 + 106 + 128;
  for (let i = 0; i < total; i++) head[mapStart + (i >> 3)]! |= 0x80 >> (i & 7);
  be16(head, nodeSize - 2, 14); be16(head, nodeSize - 4, 120); be16(head, nodeSize - 6, mapStart); be16(head, nodeSize - 8, nodeSize - 8);
  return [head, ...out];
}

export interface BuildOptions {
  /** Files of the private data folder, as iNode<N>. */
  iNodes?: Record<number, BuildFile>;
  /** Folders of the private directory folder, as dir_<N>, with their files. */
  dirs?: Record<number, BuildFile[]>;
  /** HFSX with binary name order. */
  hfsx?: boolean;
  /** Wrap the volume in an HFS master directory block (as old Mac OS volumes were). */
  wrapper?: boolean;
}

export function buildHfs(volumeName: string, files: BuildFile[], opts: BuildOptions = {}): Uint8Array {
  const now = Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000) + EPOCH;
  let nextBlock = 64; // metadata first; the B-trees' nodes are laid out below
  const blobs: { block: number; data: Uint8Array }[] = [];
  const place = (data: Uint8Array, fragments = 1): [number, number][] => {
    const blocks = Math.ceil(data.length / BS);
    if (blocks === 0) return [];
    const ext: [number, number][] = [];
    const per = Math.max(1, Math.ceil(blocks / fragments));
    for (let b = 0; b < blocks; b += per) {
      const n = Math.min(per, blocks - b);
      ext.push([nextBlock, n]);
      blobs.push({ block: nextBlock, data: data.subarray(b * BS, (b + n) * BS) });
      nextBlock += n + 1; // a gap between fragments, so they are real extents
    }
    return ext;
  };
  const catalog: Rec[] = [];
  const attrs: Rec[] = [];
  const extents: Rec[] = [];
  const rec = (parent: number, name: string, data: Uint8Array) => catalog.push({ key: catalogKey(parent, name), data, sort: [parent, opts.hfsx ? unitsOf(name) : foldName(unitsOf(name)), 0] });
  const thread = (type: number, id: number, parent: number, name: string) => {
    const n = nameBytes(name);
    const d = new Uint8Array(8 + n.length);
    be16(d, 0, type); be32(d, 4, parent); d.set(n, 8);
    rec(id, '', d);
  };
  const folder = (id: number, valence: number, mode = 0o40755) => {
    const d = new Uint8Array(88);
    be16(d, 0, 1); be16(d, 2, 0); be32(d, 4, valence); be32(d, 8, id);
    for (const o of [12, 16, 20, 24]) be32(d, o, now);
    be32(d, 32, 501); be32(d, 36, 20); be16(d, 42, mode);
    return d;
  };
  let nextId = 16;
  const fileRecord = (f: BuildFile, id: number, special = 0): Uint8Array => {
    const d = new Uint8Array(248);
    be16(d, 0, 2); be16(d, 2, 2); be32(d, 8, id);
    for (const o of [12, 16, 20, 24]) be32(d, o, now);
    be32(d, 32, 501); be32(d, 36, 20); d[41] = f.compressed ? 0x20 : 0;
    be16(d, 42, f.mode ?? (f.hardLinkTo !== undefined ? 0o100644 : 0o100644)); be32(d, 44, special);
    if (f.hardLinkTo !== undefined) { be32(d, 48, 0x686c6e6b); be32(d, 52, 0x6866732b); }
    if (f.dirLinkTo !== undefined) { be32(d, 48, 0x66647270); be32(d, 52, 0x4d414353); be32(d, 44, f.dirLinkTo); }
    const data = f.data ?? new Uint8Array(0);
    const ext = place(data, f.fragments);
    forkData(d, 88, data.length, ext);
    if (ext.length > 8) {
      let start = ext.slice(0, 8).reduce((s, e) => s + e[1], 0);
      for (let i = 8; i < ext.length; i += 8) {
        const k = new Uint8Array(12);
        be16(k, 0, 10); k[2] = 0; be32(k, 4, id); be32(k, 8, start);
        const v = new Uint8Array(64);
        ext.slice(i, i + 8).forEach(([s, c], j) => { be32(v, j * 8, s); be32(v, j * 8 + 4, c); });
        extents.push({ key: k, data: v, sort: [id, new Uint16Array(0), start] });
        start += ext.slice(i, i + 8).reduce((s, e) => s + e[1], 0);
      }
    }
    const rsrc = f.rsrc ?? new Uint8Array(0);
    forkData(d, 168, rsrc.length, place(rsrc));
    for (const [name, value] of Object.entries(f.xattrs ?? {})) {
      const n = nameBytes(name);
      const k = new Uint8Array(12 + n.length);
      be16(k, 0, 10 + n.length); be32(k, 4, id); k.set(n, 12);
      const v = new Uint8Array(16 + value.length + (value.length & 1));
      be32(v, 0, 0x10); be32(v, 12, value.length); v.set(value, 16);
      attrs.push({ key: k, data: v, sort: [id, unitsOf(name), 0] });
    }
    return d;
  };

  thread(3, 2, 1, volumeName);
  rec(1, volumeName, folder(2, files.length + (opts.iNodes ? 1 : 0) + (opts.dirs ? 1 : 0)));
  for (const f of files) {
    const id = nextId++;
    rec(2, f.name, fileRecord(f, id, f.hardLinkTo ?? 0));
    thread(4, id, 2, f.name);
  }
  if (opts.iNodes) {
    const priv = nextId++;
    const privName = '\0\0\0\0HFS+ Private Data';
    rec(2, privName, folder(priv, Object.keys(opts.iNodes).length, 0o40000));
    thread(3, priv, 2, privName);
    for (const [num, f] of Object.entries(opts.iNodes)) {
      const id = nextId++;
      const links = files.filter((x) => x.hardLinkTo === Number(num)).length;
      rec(priv, `iNode${num}`, fileRecord(f, id, links));
      thread(4, id, priv, `iNode${num}`);
    }
  }

  if (opts.dirs) {
    const priv = nextId++;
    const privName = '.HFS+ Private Directory Data\r';
    rec(2, privName, folder(priv, Object.keys(opts.dirs).length, 0o41555));
    thread(3, priv, 2, privName);
    for (const [num, kids] of Object.entries(opts.dirs)) {
      const id = nextId++;
      rec(priv, `dir_${num}`, folder(id, kids.length));
      thread(3, id, priv, `dir_${num}`);
      for (const f of kids) {
        const fid = nextId++;
        rec(id, f.name, fileRecord(f, fid));
        thread(4, fid, id, f.name);
      }
    }
  }

  const catIndexKey = (r: Rec) => r.key;
  const catNodes = btreeNodes(catalog, NODE, 516, 6, catIndexKey);
  if (opts.hfsx) catNodes[0]![14 + 37] = 0xbc; // keyCompareType: binary
  const extNodes = btreeNodes(extents, BS, 10, 2, (r) => r.key);
  const attrNodes = btreeNodes(attrs, NODE, 266, 6, (r) => r.key);
  const totalBlocks = nextBlock + 8;
  const img = new Writer(totalBlocks * BS);
  let meta = 2;
  const putTree = (nodes: Uint8Array[], off: number) => {
    const size = nodes.length * nodes[0]!.length;
    const start = meta;
    nodes.forEach((n, i) => img.bytes.set(n, start * BS + i * n.length));
    meta += Math.ceil(size / BS);
    if (meta > 64) throw new Error('build-hfs: metadata does not fit in 64 blocks');
    forkData(vh, off, size, [[start, Math.ceil(size / BS)]]);
  };
  const vh = new Uint8Array(512);
  be16(vh, 0, opts.hfsx ? 0x4858 : 0x482b); be16(vh, 2, opts.hfsx ? 5 : 4); be32(vh, 4, 0x100); vh.set([0x31, 0x30, 0x2e, 0x30], 8);
  for (const o of [16, 20, 28]) be32(vh, o, now);
  // Counts of file and folder records (the root folder not counted), as fsck and 7-Zip check them.
  const count = (t: number) => catalog.filter((r) => r.data[1] === t && r.data[0] === 0).length;
  be32(vh, 32, count(2)); be32(vh, 36, count(1) - 1); be32(vh, 40, BS); be32(vh, 44, totalBlocks);
  be32(vh, 64, nextId); be32(vh, 68, 1);
  forkData(vh, 112, BS, [[1, 1]]);
  putTree(extNodes, 192);
  putTree(catNodes, 272);
  if (attrs.length) putTree(attrNodes, 352);
  // Every block in use: the allocation bitmap (7-Zip does not need it; fsck would).
  for (let i = 0; i < totalBlocks; i++) img.bytes[BS + (i >> 3)]! |= 0x80 >> (i & 7);
  for (const b of blobs) img.bytes.set(b.data, b.block * BS);
  img.bytes.set(vh, 1024);
  img.bytes.set(vh, img.bytes.length - 1024);
  return opts.wrapper ? wrap(img.bytes, volumeName) : img.bytes;
}

/**
 * An HFS wrapper: a master directory block whose allocation blocks (4 KiB, from sector 8) hold
 * the HFS+ volume as one embedded extent starting at allocation block 1.
 */
function wrap(volume: Uint8Array, name: string): Uint8Array {
  const start = 8 * 512 + BS;
  const out = new Uint8Array(start + volume.length + BS);
  out.set(volume, start);
  const m = out.subarray(1024, 1536);
  be16(m, 0, 0x4244); be32(m, 20, BS); be16(m, 28, 8); be16(m, 18, volume.length / BS + 2);
  m[36] = name.length;
  for (let i = 0; i < name.length; i++) m[37 + i] = name.charCodeAt(i);
  be16(m, 124, 0x482b); be16(m, 126, 1); be16(m, 128, volume.length / BS);
  out.set(m.slice(), out.length - 1024);
  return out;
}
