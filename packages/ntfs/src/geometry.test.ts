import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';
import { tempDir, mountFile, cleanup } from './test/fixture.js';

let dir: string;
const files: [string, Uint8Array][] = [
  ['small.txt', new TextEncoder().encode('resident data\n')],
  ['pattern.bin', new Uint8Array(300_000).map((_, i) => (i * 131 + (i >> 12)) & 0xff)],
  ['odd.bin', new Uint8Array(4097).fill(0x5a)],
];

// mkntfs + ntfscp: no mount needed, so these are made at test time.
const layouts: [string, string[], Record<string, number>][] = [
  ['512 B clusters', ['-c', '512'], { clusterSize: 512, mftRecordSize: 1024 }],
  ['4 KiB clusters', ['-c', '4096'], { clusterSize: 4096, mftRecordSize: 1024 }],
  ['64 KiB clusters', ['-c', '65536'], { clusterSize: 65536, mftRecordSize: 1024 }],
  ['4 KiB sectors and records', ['-s', '4096', '-c', '4096'], { clusterSize: 4096, sectorSize: 4096, mftRecordSize: 4096 }],
];

describeWithTools(['mkntfs', 'ntfscp', 'ntfsls', 'ntfscat'], 'NTFS geometries made by mkntfs', () => {
  beforeAll(() => {
    dir = tempDir('geometry');
    for (const [name, data] of files) writeFileSync(join(dir, name), data);
  });
  afterAll(() => cleanup(dir));

  for (const [title, args, facts] of layouts) {
    it(`${title}: listing, bytes and info agree with ntfsls, ntfscat and the source`, async () => {
      const img = join(dir, `${args.join('')}.img`);
      run('truncate', ['-s', '24M', img]);
      run('mkntfs', ['-F', '-f', '-q', '-L', 'geo', ...args, img]);
      for (const [name] of files) run('ntfscp', ['-q', img, join(dir, name), name]);
      const { vol, dev } = await mountFile(img);
      expect(await vol.info()).toMatchObject({ ...facts, label: 'geo' });
      const names = (await vol.readdir('/')).map((e) => e.name).sort();
      expect(names).toEqual(run('ntfsls', ['-a', img]).split('\n').filter((n) => n && !n.startsWith('$') && n !== '.').sort());
      for (const [name, data] of files) {
        const f = await vol.openFile('/' + name);
        const b = new Uint8Array(f.size);
        await f.read(b, 0);
        expect(Buffer.from(b).equals(Buffer.from(data)), name).toBe(true);
        expect(Buffer.from(b).equals(execFileSync('ntfscat', [img, name], { maxBuffer: 1 << 26 })), name).toBe(true);
      }
      await dev.close();
    });
  }
});
