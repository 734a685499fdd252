/**
 * Where the passphrase of an encrypted image comes from: `--password-file FILE` (its first line),
 * else the DISKIT_PASSWORD environment variable, else a prompt on the terminal with echo off.
 * Never from argv, never printed, asked for only when an encrypted image is met.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '@diskit/core';

export function passwordSource(what: string, file?: string): () => Promise<string> {
  let answer: Promise<string> | undefined;
  return () => (answer ??= ask(what, file));
}

async function ask(what: string, file?: string): Promise<string> {
  if (file !== undefined) {
    const text = await readFile(file, 'utf8');
    return text.split(/\r?\n/)[0]!;
  }
  const env = process.env.DISKIT_PASSWORD;
  if (env) return env;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`${what} is encrypted: give its password with --password-file FILE or DISKIT_PASSWORD (there is no terminal to ask on)`);
  }
  return prompt(`Password for ${what}: `);
}

/** Read one line from the terminal in raw mode (nothing echoed). Ctrl-C stops diskit. */
function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    let line = '';
    const wasRaw = stdin.isRaw;
    // Raw (no echo) before the question is shown: an answer typed at once is never echoed.
    stdin.setRawMode(true);
    stdin.resume();
    process.stderr.write(question);
    const done = (value: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode(wasRaw);
      stdin.pause();
      process.stderr.write('\n');
      if (value === undefined) process.exit(130);
      resolve(value);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done(line);
        if (ch === '\u0003' || ch === '\u0004') return done(undefined);
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on('data', onData);
  });
}
