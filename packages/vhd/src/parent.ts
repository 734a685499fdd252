/** What VHD and VHDX images share about the parent of a differencing disk. */
import type { BlockDevice, CheckReport, Image } from '@diskit/core';

export abstract class ParentedImage {
  abstract readonly file: BlockDevice;
  abstract readonly readOnly: boolean;
  /** The parent disk once open, the name it was found under, and its file (closed with the child). */
  abstract parent?: Image;
  parentName?: string;
  protected parentFile?: BlockDevice;

  /** This file's own checks; `check` adds the parent's problems after them. */
  protected abstract checkOwn(opts: { repair?: boolean }): Promise<CheckReport>;

  async check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    const report = await this.checkOwn(opts);
    if (this.parent?.check) {
      for (const p of (await this.parent.check()).problems) report.problems.push({ ...p, message: `parent ${this.parentName}: ${p.message}` });
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
