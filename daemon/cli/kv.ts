// `outpost kv get|put|del|scan`: the KV API from the command line.
import fs from 'node:fs';
import { intOpt, type OptSpec, type Opts } from './args';
import { makeClient, readAll, write, type CommandGroup } from './command';
import { makeGroup, type Sub } from './group';
import { CliError, UsageError } from './errors';

const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEFAULT_NAMESPACE = 'default';

interface KvEntry { key: string; value?: string; version: number; ttl_remaining: number | null }
interface ScanPage { namespace: string; prefix: string; count: number; keys: KvEntry[]; next_cursor: string | null }

const KV_OPTS: readonly OptSpec[] = [
  { name: 'namespace', short: 'n', value: true, arg: 'NS', doc: `namespace (default "${DEFAULT_NAMESPACE}"; or write NS/KEY)` },
];

const SUBS: Sub[] = [
  {
    name: 'get',
    synopsis: 'get [NS/]KEY',
    doc: 'print the value (raw bytes) to stdout; a newline is added on a terminal',
    opts: [],
    args: [1, 1],
    async run(ctx, opts, [target], u) {
      const { ns, key } = splitTarget(target, opts, u);
      const client = makeClient(opts, ctx.env, u);
      const res = await client.request<KvEntry>('GET', ['api', 'v1', 'kv', ns, key]);
      if (opts.json) await write(ctx.stdout, res.text + '\n');
      else {
        const value = Buffer.from(res.json.value ?? '', 'base64');
        await write(ctx.stdout, value);
        // On a terminal the prompt must not glue onto the value; in a pipe the bytes stay exact.
        if ((ctx.stdout as { isTTY?: boolean }).isTTY && value.length && value[value.length - 1] !== 0x0a) await write(ctx.stdout, '\n');
      }
      return 0;
    },
  },
  {
    name: 'put',
    synopsis: 'put [NS/]KEY (VALUE | - | --file FILE)',
    doc: 'set a value (- reads stdin); prints the new version',
    opts: [
      { name: 'file', short: 'f', value: true, arg: 'FILE', doc: 'read the value from FILE' },
      { name: 'ttl', value: true, arg: 'SECONDS', doc: 'expire after SECONDS' },
      { name: 'cas', value: true, arg: 'VERSION', doc: 'write only if the key is at VERSION (0 = absent)' },
      { name: 'if-not-exists', doc: 'write only if the key does not exist' },
    ],
    args: [1, 2],
    async run(ctx, opts, [target, valueArg], u) {
      const { ns, key } = splitTarget(target, opts, u);
      const file = opts.file as string | undefined;
      if (file !== undefined && valueArg !== undefined) throw new UsageError('give either VALUE or --file, not both', u);
      if (file === undefined && valueArg === undefined) throw new UsageError('put needs a VALUE, - (stdin) or --file FILE', u);
      const ttl = intOpt(opts, 'ttl', 1, 315_360_000, u);
      const cas = intOpt(opts, 'cas', 0, Number.MAX_SAFE_INTEGER, u);
      const client = makeClient(opts, ctx.env, u);
      let value: Buffer;
      if (file !== undefined) {
        try { value = fs.readFileSync(file); } catch (err) {
          throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
        }
      } else if (valueArg === '-') {
        value = await readAll(ctx.stdin);
      } else {
        value = Buffer.from(valueArg!, 'utf8');
      }
      const body: Record<string, unknown> = { value: value.toString('base64') };
      if (ttl !== undefined) body.ttl_seconds = ttl;
      if (cas !== undefined) body.cas_version = cas;
      if (opts['if-not-exists']) body.if_not_exists = true;
      const res = await client.request<{ key: string; version: number }>('PUT', ['api', 'v1', 'kv', ns, key], { body });
      await write(ctx.stdout, opts.json ? res.text + '\n' : `${res.json.version}\n`);
      return 0;
    },
  },
  {
    name: 'del',
    synopsis: 'del [NS/]KEY',
    doc: 'delete a key; prints the version of the deletion',
    opts: [{ name: 'cas', value: true, arg: 'VERSION', doc: 'delete only if the key is at VERSION' }],
    args: [1, 1],
    async run(ctx, opts, [target], u) {
      const { ns, key } = splitTarget(target, opts, u);
      const cas = intOpt(opts, 'cas', 1, Number.MAX_SAFE_INTEGER, u);
      const client = makeClient(opts, ctx.env, u);
      const res = await client.request<{ key: string; deleted: boolean; version: number }>('DELETE', ['api', 'v1', 'kv', ns, key], { query: { cas_version: cas } });
      await write(ctx.stdout, opts.json ? res.text + '\n' : `${res.json.version}\n`);
      return 0;
    },
  },
  {
    name: 'scan',
    synopsis: 'scan [NS]',
    doc: 'list keys as KEY<TAB>VERSION<TAB>TTL lines (TTL "-" = none), sorted by key',
    opts: [
      { name: 'prefix', short: 'p', value: true, arg: 'P', doc: 'only keys starting with P' },
      { name: 'limit', short: 'l', value: true, arg: 'N', doc: 'keys per page, 1..1000 (default 100)' },
      { name: 'all', short: 'a', doc: 'follow next_cursor through every page (default: one page)' },
      { name: 'cursor', value: true, arg: 'C', doc: 'continue from a previous page\'s next_cursor' },
      { name: 'values', doc: 'add a VALUE column (UTF-8 text, or base64:... for binary)' },
    ],
    args: [0, 1],
    async run(ctx, opts, [nsArg], u) {
      if (nsArg !== undefined && opts.namespace !== undefined && nsArg !== opts.namespace) {
        throw new UsageError(`namespace given twice (${nsArg} and -n ${String(opts.namespace)})`, u);
      }
      const ns = checkNamespace(nsArg ?? (opts.namespace as string | undefined) ?? DEFAULT_NAMESPACE, u);
      const limit = intOpt(opts, 'limit', 1, 1000, u);
      const client = makeClient(opts, ctx.env, u);
      let cursor = opts.cursor as string | undefined;
      const wantValues = Boolean(opts.values);
      for (;;) {
        const res = await client.request<ScanPage>('GET', ['api', 'v1', 'kv', ns], {
          query: { prefix: opts.prefix as string | undefined, limit, cursor, values: wantValues },
        });
        const lines: string[] = [];
        for (const e of res.json.keys) {
          if (opts.json) lines.push(JSON.stringify(e));
          else {
            const cols = [e.key, String(e.version), e.ttl_remaining === null ? '-' : String(e.ttl_remaining)];
            if (wantValues) cols.push(showValue(e.value ?? ''));
            lines.push(cols.join('\t'));
          }
        }
        if (lines.length) await write(ctx.stdout, lines.join('\n') + '\n');
        cursor = res.json.next_cursor ?? undefined;
        if (cursor === undefined) break;
        if (!opts.all) {
          await write(ctx.stderr, `outpost: more keys follow; use --all, or --cursor ${cursor}\n`);
          break;
        }
      }
      return 0;
    },
  },
];

function checkNamespace(ns: string, u: string): string {
  if (!NAMESPACE_RE.test(ns)) throw new UsageError(`invalid namespace ${JSON.stringify(ns)} (letters, digits, _ . -; up to 64)`, u);
  return ns;
}

/**
 * `NS/KEY` or `KEY`. With -n the whole argument is the key (so keys may contain `/`);
 * without it, text before the first `/` is the namespace when it is a valid namespace name.
 */
export function splitTarget(target: string, opts: Opts, u: string): { ns: string; key: string } {
  if (target === '') throw new UsageError('the key must not be empty', u);
  if (typeof opts.namespace === 'string') return { ns: checkNamespace(opts.namespace, u), key: target };
  const slash = target.indexOf('/');
  if (slash > 0 && slash < target.length - 1 && NAMESPACE_RE.test(target.slice(0, slash))) {
    return { ns: target.slice(0, slash), key: target.slice(slash + 1) };
  }
  return { ns: DEFAULT_NAMESPACE, key: target };
}

function showValue(b64: string): string {
  const buf = Buffer.from(b64, 'base64');
  const text = buf.toString('utf8');
  // eslint-disable-next-line no-control-regex
  const printable = Buffer.from(text, 'utf8').equals(buf) && !/[\u0000-\u001f\u007f]/.test(text) && !text.startsWith('base64:');
  return printable ? text : `base64:${b64}`;
}

export const kvCommand: CommandGroup = makeGroup({
  name: 'kv',
  summary: 'get, put, delete and scan keys',
  subs: SUBS,
  groupOpts: KV_OPTS,
  notes: ['Keys containing "/" need -n NS (otherwise the text before the first "/" is the namespace).'],
});
