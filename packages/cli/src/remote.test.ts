/** The CLI on http:// images (a loopback range server in this process): the same answers as on the local file. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeWithTools, run } from '../../../test/tools.js';
import { rangeServer } from '../../core/src/test/range-server.js';

const cli = resolve(__dirname, '../bin/diskit.js');
const exec = promisify(execFile);
const diskit = async (...args: string[]) => (await exec('node', [cli, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 })).stdout;

let dir: string;
let iso: string;
let vhdx: string;
let dmg: string;
const servers: Awaited<ReturnType<typeof rangeServer>>[] = [];
const serve = async (path: string) => {
  const s = await rangeServer(readFileSync(path));
  servers.push(s);
  return s;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'remote-cli-'));
  const tree = join(dir, 'tree');
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(tree, `dir${d}`), { recursive: true });
    for (let f = 0; f < 25; f++) writeFileSync(join(tree, `dir${d}`, `file${f}.txt`), `file ${d}/${f}\n`.repeat(f));
  }
  writeFileSync(join(tree, 'big.bin'), randomBytes(3 << 20));
  iso = join(dir, 'disc.iso');
  run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, tree]);
  const raw = join(dir, 'disk.raw');
  writeFileSync(raw, Buffer.concat([Buffer.alloc(1 << 20), randomBytes(2 << 20), Buffer.alloc(5 << 20)]));
  vhdx = join(dir, 'disk.vhdx');
  run('qemu-img', ['convert', '-O', 'vhdx', raw, vhdx]);
  dmg = join(dir, 'disk.dmg');
  run('node', [cli, 'convert', '-O', 'dmg', raw, dmg]);
});
afterAll(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describeWithTools(['xorriso', 'qemu-img'], 'diskit on remote images', () => {
  it('ls -R, info, map and extract of a remote ISO equal the local answers', async () => {
    const s = await serve(iso);
    expect(await diskit('ls', '-R', '--json', s.url)).toBe(await diskit('ls', '-R', '--json', iso));
    const remoteInfo = JSON.parse(await diskit('info', '--json', s.url));
    const localInfo = JSON.parse(await diskit('info', '--json', iso));
    delete remoteInfo.allocatedSize;
    delete localInfo.allocatedSize;
    expect(remoteInfo).toEqual(localInfo);
    const out = join(dir, 'out');
    await diskit('extract', s.url, '/big.bin', out);
    expect(readFileSync(join(out, 'big.bin')).equals(readFileSync(join(dir, 'tree', 'big.bin')))).toBe(true);
  });

  it('info and convert of a remote VHDX and DMG; --stats counts requests and bytes', async () => {
    for (const img of [vhdx, dmg]) {
      const s = await serve(img);
      const { stderr } = await exec('node', [cli, 'info', '--json', '--stats', s.url], { encoding: 'utf8' });
      const m = /(\d+) requests, (\d+) bytes fetched/.exec(stderr);
      expect(m, stderr).not.toBeNull();
      expect(Number(m![1])).toBeLessThanOrEqual(20);
      const a = join(dir, 'remote.raw');
      const b = join(dir, 'local.raw');
      await diskit('convert', '-O', 'raw', '--force', s.url, a);
      await diskit('convert', '-O', 'raw', '--force', img, b);
      expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    }
  });

  it('sends --header to the server and never prints it; a server that ignores ranges is refused', async () => {
    const s = await serve(iso);
    s.state.requireHeader = ['Authorization', 'Bearer t0ps3cret'];
    await expect(diskit('info', s.url)).rejects.toThrow(/401/);
    const { stdout, stderr } = await exec('node', [cli, 'info', '--header', 'Authorization: Bearer t0ps3cret', s.url], { encoding: 'utf8' });
    expect(stdout + stderr).not.toMatch(/t0ps3cret/);
    s.state.requireHeader = undefined;
    s.state.ignoreRanges = true;
    const err = await diskit('info', s.url).catch((e: { stderr: string; code: number }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toMatch(/ignores Range requests/);
  });
});
