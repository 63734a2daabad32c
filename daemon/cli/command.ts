// What every subcommand group (kv, later nodes, ssh, exec, ...) plugs into: the global
// options, the context it runs with, and helpers to build a client and write output.
import type { Readable, Writable } from 'node:stream';
import type { OptSpec, Opts } from './args';
import { intOpt } from './args';
import { Client } from './client';

export const DEFAULT_URL = 'http://127.0.0.1:44000';

/** Options accepted by every command, before or after the subcommand. */
export const GLOBAL_OPTS: readonly OptSpec[] = [
  { name: 'url', value: true, arg: 'URL', doc: `daemon API URL (default $OUTPOST_URL or ${DEFAULT_URL})` },
  { name: 'token', value: true, arg: 'TOKEN', doc: 'bearer token (default $API_KEY, then $MASTER_KEY)' },
  { name: 'timeout', value: true, arg: 'SECONDS', doc: 'give up on a request after this long (default 30)' },
  { name: 'json', doc: 'print the raw JSON response(s)' },
  { name: 'help', short: 'h', doc: 'show help' },
];

export interface Context {
  /** Arguments after the command group's name (e.g. after `kv`). */
  argv: string[];
  /** Global options seen before the command group's name. */
  globals: Opts;
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

export interface CommandGroup {
  name: string;
  summary: string;
  help(): string;
  /** Resolves with the exit code; throws CliError for failures. */
  run(ctx: Context): Promise<number>;
}

export function makeClient(opts: Opts, env: NodeJS.ProcessEnv, usage: string): Client {
  const url = (opts.url as string | undefined) || env.OUTPOST_URL || DEFAULT_URL;
  const token = (opts.token as string | undefined) || env.API_KEY || env.MASTER_KEY || undefined;
  const timeout = intOpt(opts, 'timeout', 1, 86_400, usage) ?? 30;
  return new Client({ url, token, timeoutMs: timeout * 1000 });
}

/** Writes and waits until the data is handed to the OS (binary-safe, no newline added). */
export function write(stream: Writable, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
