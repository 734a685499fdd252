/** What VHD and VHDX images share about the parent of a differencing disk. */
import type { BlockDevice, CheckReport, CorruptImageError, Image, OpenOptions, Problem } from '@diskit/core';

/**
 * An opener for names found in `base`'s locators: relative names are relative to the folder of
 * `base` (itself a name `open` understands), as the specifications mean them.
 */
export function besideOpener(open: (name: string) => Promise<BlockDevice>, base: string): (name: string) => Promise<BlockDevice> {
  const cut = Math.max(base.lastIndexOf('/'), base.lastIndexOf('\\'));
  if (cut < 0) return open;
  const dir = base.slice(0, cut + 1);
  return (name) => open(/^([\\/]|[A-Za-z]:)/.test(name) ? name : dir + name);
}

export abstract class ParentedImage {
  abstract readonly file: BlockDevice;
  abstract readonly readOnly: boolean;
  /** The parent disk once open, the name it was found under, and its file (closed with the child). */
  abstract parent?: Image;
  parentName?: string;
  protected parentFile?: BlockDevice;
  /** This file's checksum failures read around at open (severity 'warning'; check reports them as errors). */
  readonly ownWarnings: Problem[] = [];

  /** This file's warnings, then the parent chain's. */
  get warnings(): Problem[] {
    return [...this.ownWarnings, ...(this.parent?.warnings ?? []).map((p) => this.ofParent(p))];
  }

  /** A parent's problem as the child reports it: "VHD footer of parent base.vhd". */
  private ofParent(p: Problem): Problem {
    return p.structure ? { ...p, structure: `${p.structure} of parent ${this.parentName}` } : { ...p, message: `parent ${this.parentName}: ${p.message}` };
  }

  /**
   * Open and adopt the parent: `opts.backing` when given (a parent that was moved; qemu's
   * `-o backing=`), else each located name in turn. `identify` says why an opened disk is not this
   * child's parent (another id): it is closed and the next name tried; when no name gives the
   * parent, the first such mismatch is the error, else `none(tried)`.
   */
  protected async adoptParent<P extends Image>(
    located: () => Promise<string[]>,
    opts: OpenOptions & { openRelative: (name: string) => Promise<BlockDevice> },
    open: (file: BlockDevice, opts: OpenOptions) => Promise<P>,
    identify: (parent: P, name: string) => CorruptImageError | undefined,
    none: (tried: string[]) => Error,
  ): Promise<P> {
    const tried: string[] = [];
    let mismatch: CorruptImageError | undefined;
    for (const name of opts.backing !== undefined ? [opts.backing] : await located()) {
      if (tried.includes(name)) continue;
      tried.push(name);
      let file: BlockDevice;
      try {
        file = await opts.openRelative(name);
      } catch (e) {
        if (opts.backing !== undefined) throw e; // the file the user named: say why it cannot be opened
        continue;
      }
      let parent: P;
      try {
        parent = await open(file, { name, openRelative: besideOpener(opts.openRelative, name) });
      } catch (e) {
        await file.close().catch(() => {});
        throw e;
      }
      const wrong = identify(parent, name);
      if (wrong) {
        mismatch ??= wrong;
        await parent.close();
        await file.close().catch(() => {});
        continue;
      }
      this.parent = parent;
      this.parentFile = file;
      this.parentName = name;
      return parent;
    }
    throw mismatch ?? none(tried);
  }

  /** This file's own checks; `check` adds the parent's problems after them. */
  protected abstract checkOwn(opts: { repair?: boolean }): Promise<CheckReport>;

  async check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    const report = await this.checkOwn(opts);
    if (this.parent?.check) {
      for (const p of (await this.parent.check()).problems) report.problems.push(this.ofParent(p));
    }
    return report;
  }

  async flush(): Promise<void> {
    if (!this.readOnly) await this.file.flush();
  }

  async close(): Promise<void> {
    if (this.parent) await this.parent.close();
    if (this.parentFile) await this.parentFile.close().catch(() => {});
  }
}
