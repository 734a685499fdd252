/**
 * Directory records for the builder. Records are not kept (100,000 files must not cost 100,000
 * objects): they are produced again, identically, whenever a directory is sized or written. Only
 * Rock Ridge areas that spill into continuation areas are remembered (their CE addresses).
 */
import { SECTOR, dirRecordLength } from '../structs.js';
import { cmpIso, isoNames, jolietNames } from './names.js';
import { rrEntries, setSu, setSuFor, suInlineLength, type SuLayout } from './rock-ridge.js';
import { extentCount, type BuildNode, type DirLayout } from './tree.js';

export type Tree = 'iso' | 'jol';

export interface RecordPlan {
  node: BuildNode;
  /** 0 = '.', 1 = '..', 2 = child */
  kind: 0 | 1 | 2;
  /** Identifier length in bytes (the bytes are made when the record is written). */
  nameLen: number;
  name?: string;
  tree: Tree;
  /** Rock Ridge entries that spill into continuation areas (kept); inline-only ones are re-encoded when written. */
  su?: SuLayout;
  suLen?: number;
  rootDot?: boolean;
  /** Offset of this record inside the directory extent. */
  pos: number;
  /** Which extent of a multi-extent file (index), how many. */
  part: number;
  parts: number;
}

export class DirRecords {
  private lastNamed: { d: BuildNode; tree: Tree; list: { node: BuildNode; name: string }[] } | undefined;
  private readonly childSu = new Map<BuildNode, SuLayout>();
  private readonly dotSu = new Map<BuildNode, SuLayout>();
  private readonly parentSu = new Map<BuildNode, SuLayout>();

  constructor(
    readonly root: BuildNode,
    /** Rock Ridge in the ISO9660 tree. */
    readonly rr: boolean,
    /** Times are clamped to SOURCE_DATE_EPOCH. */
    readonly clamp: (d: Date) => Date,
    readonly suspSkip: number,
  ) {}

  /**
   * A directory's children with their identifiers in the tree's order. Names are not kept on the
   * nodes (100,000 of them): they are derived again, identically, whenever a directory is visited.
   */
  named(d: BuildNode, tree: Tree): { node: BuildNode; name: string }[] {
    const lastNamed = this.lastNamed;
    if (lastNamed && lastNamed.d === d && lastNamed.tree === tree) return lastNamed.list;
    const kids = d.children ?? [];
    const names = tree === 'iso' ? isoNames(kids) : jolietNames(kids);
    const list = kids.map((node, i) => ({ node, name: names[i]! }));
    // Joliet: UTF-16 code unit order is UCS-2 big-endian byte order
    list.sort(tree === 'iso' ? (a, b) => cmpIso(a.name, b.name) : (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of list) {
      if (e.node.type === 'directory') {
        if (tree === 'iso') e.node.isoName = e.name;
        else e.node.jolName = e.name;
      }
    }
    this.lastNamed = { d, tree, list };
    return list;
  }

  /** The directories of a tree in path table order (level, parent number, identifier). */
  directories(tree: Tree): BuildNode[] {
    const out: BuildNode[] = [this.root];
    for (let i = 0; i < out.length; i++) for (const { node: k } of this.named(out[i]!, tree)) if (k.type === 'directory') out.push(k);
    return out;
  }

  *recordsOf(d: BuildNode, tree: Tree): Generator<RecordPlan> {
    const withRr = tree === 'iso' && this.rr;
    for (const kind of [0, 1] as const) {
      const node = kind === 0 ? d : d.parent!;
      const plan: RecordPlan = { node, kind, nameLen: 1, tree, pos: 0, part: 0, parts: 1, rootDot: kind === 0 && d === this.root };
      if (withRr) {
        const memo = (kind === 0 ? this.dotSu : this.parentSu).get(d);
        if (memo) plan.su = memo;
        else {
          setSu(plan, rrEntries(node, kind, plan.rootDot!, this.clamp, this.suspSkip), 255 - dirRecordLength(1, 0));
          if (plan.su) (kind === 0 ? this.dotSu : this.parentSu).set(d, plan.su);
        }
      }
      yield plan;
    }
    for (const { node: k, name } of this.named(d, tree)) {
      const nameLen = tree === 'iso' ? name.length : name.length * 2;
      const parts = extentCount(k);
      for (let p = 0; p < parts; p++) {
        const plan: RecordPlan = { node: k, kind: 2, nameLen, name, tree, pos: 0, part: p, parts };
        if (withRr) {
          const memo = this.childSu.get(k);
          if (memo) plan.su = memo;
          else {
            setSuFor(plan, k, this.clamp, 255 - dirRecordLength(nameLen, 0), this.suspSkip);
            if (plan.su) this.childSu.set(k, plan.su);
          }
        }
        yield plan;
      }
    }
  }

  /** Records with their positions: none crosses a sector end. Last comes an end marker (part -1) at the end position. */
  *positioned(d: BuildNode, tree: Tree): Generator<RecordPlan> {
    let pos = 0;
    for (const r of this.recordsOf(d, tree)) {
      const len = dirRecordLength(r.nameLen, r.su ? suInlineLength(r.su) : r.suLen ?? 0);
      if ((pos % SECTOR) + len > SECTOR) pos = Math.ceil(pos / SECTOR) * SECTOR;
      r.pos = pos;
      yield r;
      pos += len;
    }
    yield { node: d, kind: 0, nameLen: 0, tree, pos, part: -1, parts: 0 };
  }

  layoutDir(d: BuildNode, tree: Tree, number: number): DirLayout {
    let end = 0;
    for (const r of this.positioned(d, tree)) if (r.part === -1) end = r.pos;
    return { lba: 0, size: Math.max(SECTOR, Math.ceil(end / SECTOR) * SECTOR), number };
  }

  /** Every Rock Ridge area that spilled into continuation areas, in the order they are placed. */
  spilled(): SuLayout[] {
    return [...this.dotSu.values(), ...this.parentSu.values(), ...this.childSu.values()];
  }
}
