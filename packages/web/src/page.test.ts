/**
 * The inspector page in a real browser (Debian's Chromium, headless, through playwright-core): a VHD
 * holding a GPT disk with an ISO9660 partition, a UDZO DMG, and an ISO by URL from a loopback range
 * server. Each step is photographed into test-results/web/. Needs the built page and CLI (pnpm build).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { describeWithTools, run } from '../../../test/tools.js';
import { rangeServer } from '../../core/src/test/range-server.js';

const root = resolve(__dirname, '../../..');
const cli = join(root, 'packages/cli/bin/diskit.js');
const shots = join(root, 'test-results/web');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let dir: string;
let vhd: string;
let dmg: string;
let iso: string;
let big: Buffer;
let server: ChildProcess | undefined;
let pageUrl: string;
let browser: Browser | undefined;
let ranges: Awaited<ReturnType<typeof rangeServer>> | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-e2e-'));
  mkdirSync(shots, { recursive: true });
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'docs/deeper'), { recursive: true });
  big = randomBytes(700_000);
  writeFileSync(join(tree, 'big.bin'), big);
  writeFileSync(join(tree, 'docs/readme.txt'), 'hello from inside the disk\n');
  writeFileSync(join(tree, 'docs/deeper/notes.txt'), 'notes\n'.repeat(100));
  iso = join(dir, 'disc.iso');
  run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'WEBTEST', '-o', iso, tree]);
  // A GPT disk whose first partition holds the ISO9660 filesystem, as a dynamic VHD.
  const raw = join(dir, 'disk.raw');
  execFileSync('truncate', ['-s', '8M', raw]);
  run('sgdisk', ['-n1:2048:+4M', '-c1:data', '-n2:0:0', '-c2:spare', raw]);
  execFileSync('dd', [`if=${iso}`, `of=${raw}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
  vhd = join(dir, 'disk.vhd');
  run('qemu-img', ['convert', '-O', 'vpc', raw, vhd]);
  dmg = join(dir, 'disk.dmg');
  run('node', [cli, 'convert', '-O', 'dmg', raw, dmg]);

  server = spawn('node', [cli, 'web', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  pageUrl = await new Promise<string>((res, rej) => {
    let err = '';
    server!.stderr!.on('data', (b) => {
      err += b;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(err);
      if (m) res(m[1]!);
    });
    server!.on('exit', () => rej(new Error(err)));
  });
  ranges = await rangeServer(readFileSync(iso));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.kill();
  await ranges?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const page = await browser!.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(pageUrl);
  return page;
}

async function downloaded(page: Page, click: () => Promise<void>): Promise<Buffer> {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const p = join(dir, `dl-${Date.now()}`);
  await d.saveAs(p);
  return readFileSync(p);
}

describeWithTools(['xorriso', 'qemu-img', 'sgdisk', '7z', CHROMIUM], 'the inspector page in Chromium', () => {
  for (const [label, file] of [['vhd', () => vhd], ['dmg', () => dmg]] as const) {
    it(`opens a ${label} holding a GPT disk: partitions, the ISO9660 files, a downloaded file's bytes`, async () => {
      const page = await newPage();
      await page.screenshot({ path: join(shots, `${label}-1-empty.png`) });
      await page.setInputFiles('[data-testid=file]', file());
      await page.waitForSelector('[data-testid="entry:/big.bin"]', { timeout: 30_000 });
      await page.screenshot({ path: join(shots, `${label}-2-opened.png`), fullPage: true });
      const parts = await page.textContent('[data-testid=partitions]');
      expect(parts).toMatch(/data/);
      expect(parts).toMatch(/spare/);
      expect(await page.textContent('[data-testid=summary]')).toMatch(label === 'vhd' ? /vhd/ : /dmg/);
      expect(await page.textContent('[data-testid=volumes]')).toMatch(/partition 1 \(data\)iso9660/);
      expect(await page.textContent('[data-testid=files]')).toMatch(/docs\//);
      const bytes = await downloaded(page, () => page.click('[data-testid="entry:/big.bin"]'));
      expect(sha(bytes)).toBe(sha(big));
      await page.click('[data-testid="entry:/docs"]');
      await page.waitForSelector('[data-testid="entry:/docs/readme.txt"]');
      await page.screenshot({ path: join(shots, `${label}-3-folder.png`), fullPage: true });
      // The structure dump: a click shows that structure's bytes.
      await page.click('[data-testid=structures] summary button');
      await page.waitForFunction(() => /at offset \d+/.test(document.querySelector('[data-testid=hex]')!.textContent ?? ''));
      await page.screenshot({ path: join(shots, `${label}-4-structure.png`), fullPage: true });
      expect(await page.isHidden('[data-testid=error]')).toBe(true);
      await page.close();
    });
  }

  it('opens an ISO by URL from a range server, searches it, downloads a folder as a zip and the disk converted', async () => {
    const page = await newPage();
    await page.fill('[data-testid=url]', ranges!.url);
    await page.click('[data-testid=open-url]');
    await page.waitForSelector('[data-testid="entry:/big.bin"]', { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'url-1-opened.png'), fullPage: true });
    expect(ranges!.state.ranges.length).toBeGreaterThan(0);
    await page.fill('[data-testid=search]', 'notes');
    await page.press('[data-testid=search]', 'Enter');
    await page.waitForSelector('[data-testid="entry:/docs/deeper/notes.txt"]');
    await page.screenshot({ path: join(shots, 'url-2-search.png'), fullPage: true });
    await page.click('[data-testid=crumbs] button');
    await page.click('[data-testid="entry:/docs"]');
    await page.waitForSelector('[data-testid="entry:/docs/readme.txt"]');
    const zip = await downloaded(page, () => page.click('[data-testid=zip]'));
    const zipPath = join(dir, 'docs.zip');
    writeFileSync(zipPath, zip);
    const out = join(dir, 'unzipped');
    run('7z', ['x', '-y', `-o${out}`, zipPath]);
    expect(readFileSync(join(out, 'readme.txt'), 'utf8')).toBe('hello from inside the disk\n');
    expect(readFileSync(join(out, 'deeper/notes.txt'), 'utf8')).toBe('notes\n'.repeat(100));
    await page.selectOption('[data-testid=convert-format]', 'raw');
    const disk = await downloaded(page, () => page.click('[data-testid=convert]'));
    expect(sha(disk)).toBe(sha(readFileSync(iso)));
    await page.screenshot({ path: join(shots, 'url-3-downloads.png'), fullPage: true });
    await page.close();
  });

  it('shows a damaged image\'s error as one line', async () => {
    const bad = join(dir, 'bad.vhd');
    const b = readFileSync(vhd);
    b.fill(0xff, b.length - 512 + 64, b.length - 512 + 72); // the footer's checksum and more
    b.write('conectix', b.length - 512);
    b.fill(0xee, 512, 1024); // the dynamic header
    writeFileSync(bad, b);
    const page = await newPage();
    await page.setInputFiles('[data-testid=file]', bad);
    await page.waitForSelector('[data-testid=error]:not([hidden])', { timeout: 30_000 });
    const text = (await page.textContent('[data-testid=error]'))!;
    expect(text.split('\n').length).toBe(1);
    expect(text).toMatch(/Error: .* at offset \d+/);
    await page.screenshot({ path: join(shots, 'error.png') });
    await page.close();
  });
});
