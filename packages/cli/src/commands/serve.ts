/** `diskit serve`: one image (or partition) as an NBD export, like qemu-nbd / nbdkit. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { SliceDevice, UsageError, type BlockDevice } from '@diskit/core';
import { FileDevice } from '@diskit/core/node';
import { createCowOverlay, openCowOverlay, type NbdExport } from '@diskit/nbd';
import { activationFd, listenNbd, type ListenOn } from '@diskit/nbd/node';
import { defaultRegistry } from '../registry.js';
import { openImage, partitionTableOf, type Opened } from '../open.js';
import { parse } from '../args.js';

export const SERVE_USAGE = `usage: diskit serve <img> [-f FMT] [--partition N] [--listen HOST:PORT | --socket PATH]
                    [--export NAME] [--writable [--overlay FILE]] [--once] [--run 'CMD $uri']

Serves the image's virtual disk (or one partition) over NBD, read-only unless --writable.
  --listen HOST:PORT   TCP address (default 127.0.0.1:10809; other hosts print a warning)
  --socket PATH        a unix socket instead of TCP
  --export NAME        the export's name (default: empty)
  --writable           accept writes: in place for raw, VHD and VHDX; other formats get an overlay
  --overlay FILE       send writes to a copy-on-write overlay FILE (the image is never touched);
                       an existing overlay is reopened. \`diskit convert FILE out.img\` reads the result
  --once               stop after the first client disconnects
  --run 'CMD'          run CMD with $uri (and $unixsocket) set, then stop (nbdkit's captive mode)
Under socket activation (LISTEN_FDS/LISTEN_PID) the inherited fd 3 is served.

Example:
  diskit serve disk.vhdx --run 'nbdcopy "$uri" disk.raw'
  nbdinfo --map -- [ diskit serve image.dmg ]`;

function listenAddress(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) throw new UsageError(`--listen wants HOST:PORT, got '${spec}'`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

export async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    partition: { type: 'string' },
    listen: { type: 'string' },
    socket: { type: 'string' },
    export: { type: 'string' },
    writable: { type: 'boolean' },
    overlay: { type: 'string' },
    once: { type: 'boolean' },
    run: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(SERVE_USAGE);
  if (values.listen && values.socket) throw new UsageError('give --listen or --socket, not both');
  if (values.overlay && !values.writable) throw new UsageError('--overlay needs --writable');
  const path = positionals[0]!;
  const reg = defaultRegistry();

  const opened: Opened[] = [];
  const cleanups: (() => void)[] = [];
  try {
    const inPlace = values.writable && !values.overlay;
    let img = await openImage(reg, path, { format: values.format, writable: inPlace });
    opened.push(img);
    if (inPlace && img.image.readOnly) {
      // DMG, ISO…: diskit cannot write them in place, so writes go to a throwaway overlay.
      await img.close();
      opened.pop();
      img = await openImage(reg, path, { format: values.format });
      opened.push(img);
      const dir = mkdtempSync(join(tmpdir(), 'diskit-overlay-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      values.overlay = join(dir, 'overlay');
      process.stderr.write(`diskit: ${img.image.format} images are not written in place; writes go to a temporary overlay, dropped at exit\n`);
    }
    let device: BlockDevice = img.image;
    if (values.partition !== undefined) device = await partitionDevice(device, values.partition);
    if (values.overlay) device = await overlayOver(device, path, values.overlay);
    const exp: NbdExport = { name: values.export ?? '', description: basename(path), device, writable: !!values.writable };

    let on: ListenOn;
    const fd = activationFd();
    if (fd !== undefined) on = { fd };
    else if (values.socket) on = { path: resolve(values.socket) };
    else if (values.run && !values.listen) {
      const dir = mkdtempSync(join(tmpdir(), 'diskit-nbd-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      on = { path: join(dir, 'nbd.sock') };
    } else {
      on = listenAddress(values.listen ?? '127.0.0.1:10809');
      if (!isLoopback(on.host)) process.stderr.write(`diskit: warning: listening on ${on.host}, reachable from other machines (no TLS, no authentication)\n`);
    }
    if ('path' in on && existsSync(on.path)) throw new UsageError(`${on.path} exists`);

    const server = await listenNbd([exp], on, (e) => process.stderr.write(`diskit: serve: ${(e as Error).message ?? e}\n`));
    if ('path' in on) cleanups.push(() => rmSync((on as { path: string }).path, { force: true }));
    if (fd === undefined && !values.run) process.stderr.write(`diskit: serving ${path} at ${server.uri}${exp.writable ? '' : ' (read-only)'}\n`);

    return await new Promise<number>((finish) => {
      let stopping = false;
      const stop = async (code: number) => {
        if (stopping) return;
        stopping = true;
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await server.close();
        await device.flush().catch(() => {});
        finish(code);
      };
      const onSignal = () => void stop(0);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      if (values.once) server.server.once('connection', (s) => s.once('close', () => void stop(0)));
      if (values.run) {
        const sock = 'path' in on ? on.path : '';
        const child = spawn('sh', ['-c', values.run], { stdio: 'inherit', env: { ...process.env, uri: server.uri, nbd: server.uri, unixsocket: sock } });
        child.on('exit', (code, signal) => void stop(code ?? (signal ? 1 : 0)));
        child.on('error', () => void stop(1));
      }
    });
  } finally {
    for (const o of opened.reverse()) await o.close();
    for (const c of cleanups) c();
  }
}

async function partitionDevice(image: BlockDevice, spec: string): Promise<BlockDevice> {
  const n = Number(spec);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--partition wants a number ≥ 1, got '${spec}'`);
  const table = await partitionTableOf(image);
  const p = table.partitions.find((x) => x.index === n && x.kind !== 'extended');
  if (!p) throw new UsageError(`no partition ${n} (have: ${table.partitions.map((x) => x.index).join(', ') || 'none'})`);
  return new SliceDevice(image, p.start, Math.min(p.size, image.size - p.start));
}

/** Reopen an existing overlay (it must have been made over this image) or start a new one. */
async function overlayOver(base: BlockDevice, imagePath: string, overlayPath: string): Promise<BlockDevice> {
  if (existsSync(overlayPath)) {
    const file = await FileDevice.open(overlayPath, { writable: true });
    return openCowOverlay(file, async () => base);
  }
  const file = await FileDevice.create(overlayPath, { exclusive: true });
  return createCowOverlay(file, base, relative(dirname(resolve(overlayPath)), resolve(imagePath)));
}
