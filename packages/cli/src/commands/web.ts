/** `diskit web`: serve the inspector page (packages/web's static files) on loopback; opens nothing. */
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { UsageError } from '@diskit/core';
import { parse } from '../args.js';

export const WEB_USAGE = `usage: diskit web [--port N] [--listen HOST]

Serves the diskit inspector page on http://127.0.0.1:N/ (default port 8080) until Ctrl-C. Images are
opened in the browser and never uploaded. The page is static files: host packages/web/dist anywhere.

Example:
  diskit web --port 8080     then open http://127.0.0.1:8080/ in a browser`;

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml' };

/** Where the built page is: @diskit/web's dist. */
export function pageDir(): string {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@diskit/web/package.json')), 'dist');
  if (!existsSync(join(dir, 'index.html'))) throw new UsageError(`the page is not built (${dir}): run pnpm build`);
  return dir;
}

export async function web(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { port: { type: 'string' }, listen: { type: 'string' } });
  if (values.help) {
    process.stdout.write(WEB_USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(WEB_USAGE);
  const port = Number(values.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port wants 0–65535, got '${values.port}'`);
  const host = values.listen ?? '127.0.0.1';
  if (!/^(127\.|localhost$|::1$)/.test(host)) process.stderr.write(`diskit: warning: serving the page on ${host}, reachable from other machines\n`);
  const root = pageDir();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    const url = new URL(req.url ?? '/', 'http://x');
    const file = normalize(join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname)));
    // Only files inside the page's folder.
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size, 'X-Content-Type-Options': 'nosniff' });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const addr = server.address();
  const shown = typeof addr === 'object' && addr ? addr.port : port;
  process.stderr.write(`diskit: the inspector page is at http://${host.includes(':') ? `[${host}]` : host}:${shown}/ (Ctrl-C stops)\n`);
  return new Promise<number>((finish) => {
    const stop = () => server.close(() => finish(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
