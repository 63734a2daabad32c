// What every subcommand group (kv, later nodes, ssh, exec, ...) plugs into: the global
// options, the context it runs with, and helpers to build a client and write output.
import type { Readable, Writable } from 'node:stream';
import type { OptSpec, Opts } from './args';
import { intOpt } from './args';
import { Client } from './client';
import { DEFAULT_DATA_URL, endpoint, readCa } from './config';

export const DEFAULT_URL = DEFAULT_DATA_URL;

/** Options accepted by every command, before or after the subcommand. */
export const GLOBAL_OPTS: readonly OptSpec[] = [
  { name: 'url', value: true, arg: 'URL', doc: `daemon data-plane URL (default $OUTPOST_URL, then data_url of the context, then ${DEFAULT_DATA_URL})` },
  { name: 'token', value: true, arg: 'TOKEN', doc: 'bearer token (default $OUTPOST_TOKEN, $MASTER_KEY, $API_KEY, then the context\'s data_token or token)' },
  { name: 'context', value: true, arg: 'NAME', doc: 'use this context of the config file (default $OUTPOST_CONTEXT, then current_context)' },
  { name: 'ca', value: true, arg: 'FILE', doc: 'PEM CA bundle to trust for https:// (default $OUTPOST_CA, then ca of the context)' },
  { name: 'request-timeout', value: true, arg: 'SECONDS', doc: 'give up on one HTTP request after this long (default 30)' },
  { name: 'timeout', value: true, arg: 'SECONDS', doc: 'same as --request-timeout (except in `run`, where --timeout is the command\'s own)' },
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
  /** For shell completion: subcommands and their options, and the options of the group itself. */
  subs?: ReadonlyArray<{ name: string; opts: readonly OptSpec[] }>;
  opts?: readonly OptSpec[];
  help(): string;
  /** Resolves with the exit code; throws CliError for failures. */
  run(ctx: Context): Promise<number>;
}

/** Client for a daemon's data plane; URL, token and CA per the one precedence of config.ts. */
export function makeClient(opts: Opts, env: NodeJS.ProcessEnv, usage: string): Client {
  const ep = endpoint('data', opts, env);
  return new Client({ url: ep.url, token: ep.token, ca: ep.ca ? readCa(ep.ca) : undefined, timeoutMs: requestTimeoutMs(opts, usage) });
}

/** --request-timeout (or its older name --timeout), in ms; default 30 s. */
export function requestTimeoutMs(opts: Opts, usage: string): number {
  const s = intOpt(opts, 'request-timeout', 1, 86_400, usage) ?? intOpt(opts, 'timeout', 1, 86_400, usage) ?? 30;
  return s * 1000;
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
