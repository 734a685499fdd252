/** What VHD and VHDX images share about the parent of a differencing disk. */
import type { BlockDevice, CheckReport, Image, Problem } from '@diskit/core';

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
