// `outpost clusters|nodes|keys|commands|ssh-users …`: the control-plane API from the command
// line, as tables (or the raw JSON with --json).
import fs from 'node:fs';
import { intOpt, type OptSpec, type Opts } from './args';
import { AdminClient, DEFAULT_ADMIN_URL, makeAdminClient } from './admin-client';
import { GLOBAL_OPTS, readAll, write, type CommandGroup, type Context } from './command';
import { UsageError } from './errors';
import { makeGroup, table, type Sub } from './group';
import { displayNames, resolveNode, type NodeRow } from './resolve';

type Row = Record<string, unknown>;

/** Global options as the admin commands read them (--url is the admin's URL). */
export const ADMIN_GLOBAL_OPTS: readonly OptSpec[] = GLOBAL_OPTS.map((o) => (o.name === 'url'
  ? { ...o, doc: `admin URL (default $OUTPOST_ADMIN_URL, then url of the context, then ${DEFAULT_ADMIN_URL})` }
  : o.name === 'token' ? { ...o, doc: 'API key (default $OUTPOST_TOKEN, $MASTER_KEY, $API_KEY, then token of the context)' } : o));

const PAGE_OPTS: readonly OptSpec[] = [
  { name: 'limit', value: true, arg: 'N', doc: 'show at most N rows (default: all)' },
  { name: 'filter', short: 'f', value: true, arg: 'FIELD=VALUE[,…]', doc: 'API filters, e.g. status=healthy,name=*web* or inserted_at__gte=2026-01-01' },
  { name: 'sort', value: true, arg: 'FIELD[:asc|desc]', doc: 'order_by (and direction)' },
];

/** Milliseconds from the API as the seconds the flags take (`run --timeout 30` shows 30s). */
export function seconds(ms: unknown): string | null {
  return typeof ms === 'number' ? `${Number((ms / 1000).toFixed(3))}s` : null;
}

const NODE_OPT: OptSpec = { name: 'node', short: 'n', value: true, arg: 'NODE', doc: 'only this node (id, alias or name)' };

function listQuery(opts: Opts, u: string): { query: Record<string, string>; limit: number } {
  const query: Record<string, string> = Object.create(null); // FIELD=VALUE names are the user's
  if (typeof opts.filter === 'string') {
    for (const part of opts.filter.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--filter wants FIELD=VALUE (got ${JSON.stringify(part)})`, u);
      query[part.slice(0, eq)] = part.slice(eq + 1);
    }
  }
  if (typeof opts.sort === 'string') {
    const [field, dir] = opts.sort.split(':');
    query.order_by = field;
    if (dir) {
      if (dir !== 'asc' && dir !== 'desc') throw new UsageError('--sort direction is asc or desc', u);
      query.order_directions = dir;
    }
  }
  return { query, limit: intOpt(opts, 'limit', 1, 1_000_000, u) ?? Infinity };
}

async function out(ctx: Context, opts: Opts, json: unknown, text: () => string): Promise<number> {
  await write(ctx.stdout, opts.json ? JSON.stringify(json, null, 2) + '\n' : text());
  return 0;
}

/** A list subcommand: GET path with filters, all pages, as a table. */
function listSub(path: string, cols: Array<[string, (r: Row) => unknown]>, doc: string, extra: readonly OptSpec[] = [], fixed?: (opts: Opts) => Record<string, string>): Sub {
  return {
    name: 'list', synopsis: 'list', doc, opts: [...PAGE_OPTS, ...extra], args: [0, 0],
    async run(ctx, opts, _a, u) {
      const { query, limit } = listQuery(opts, u);
      const rows = await admin(ctx, opts, u).all<Row>(path, { ...query, ...(fixed?.(opts) ?? {}) }, limit);
      return out(ctx, opts, rows, () => table(rows, cols));
    },
  };
}

function getSub(path: (id: string) => string, what: string): Sub {
  return {
    name: 'get', synopsis: `get ${what.toUpperCase()}`, doc: `show one ${what}`, opts: [], args: [1, 1],
    async run(ctx, opts, [id], u) {
      const r = await admin(ctx, opts, u).call<Row>('GET', path(id));
      return out(ctx, opts, r.data, () => showRecord(r.data));
    },
  };
}

function deleteSub(path: (id: string) => string, what: string): Sub {
  return {
    name: 'delete', synopsis: `delete ${what.toUpperCase()}`, doc: `delete a ${what}`, opts: [], args: [1, 1],
    async run(ctx, opts, [id], u) {
      await admin(ctx, opts, u).call('DELETE', path(id));
      if (!opts.json) await write(ctx.stderr, `deleted ${what} ${id}\n`);
      return 0;
    },
  };
}

const admin = (ctx: Context, opts: Opts, u: string): AdminClient => makeAdminClient(opts, ctx.env, u);
const enc = encodeURIComponent;

function nullableInt(opts: Opts, name: string, u: string): number | null | undefined {
  if (opts[name] === 'none' || opts[name] === 'unlimited') return null;
  return intOpt(opts, name, 1, 1_000_000_000, u);
}

export const clustersCommand: CommandGroup = makeGroup({
  name: 'clusters', summary: 'create, list, change and delete clusters', globalOpts: ADMIN_GLOBAL_OPTS,
  subs: [
    listSub('api/v1/clusters', [['NAME', (r) => r.name], ['NODES', (r) => r.node_count], ['LIMIT', (r) => r.node_limit], ['IPV4 RANGE', (r) => r.ipv4_range], ['CREATED', (r) => r.inserted_at]], 'list clusters'),
    getSub((n) => `api/v1/clusters/${enc(n)}`, 'cluster'),
    {
      name: 'create', synopsis: 'create NAME', doc: 'create a cluster (ipv4 range allocated when not given)', args: [1, 1],
      opts: [{ name: 'ipv4-range', value: true, arg: 'CIDR', doc: 'e.g. 100.64.8.0/24' }, { name: 'node-limit', value: true, arg: 'N|none', doc: 'most nodes in the cluster' }],
      async run(ctx, opts, [name], u) {
        const body: Row = { name };
        if (typeof opts['ipv4-range'] === 'string') body.ipv4_range = opts['ipv4-range'];
        const lim = nullableInt(opts, 'node-limit', u);
        if (lim !== undefined) body.node_limit = lim;
        const r = await admin(ctx, opts, u).call<Row>('POST', 'api/v1/clusters', body);
        return out(ctx, opts, r.data, () => `created cluster ${r.data.name} (${r.data.ipv4_range})\n`);
      },
    },
    {
      name: 'set-limit', synopsis: 'set-limit NAME N|none', doc: 'change node_limit', opts: [], args: [2, 2],
      async run(ctx, opts, [name, n], u) {
        const limit = n === 'none' ? null : /^\d+$/.test(n) ? Number(n) : NaN;
        if (Number.isNaN(limit)) throw new UsageError('the limit is a number or none', u);
        const r = await admin(ctx, opts, u).call<Row>('PATCH', `api/v1/clusters/${enc(name)}`, { node_limit: limit });
        return out(ctx, opts, r.data, () => `cluster ${name}: node_limit ${r.data.node_limit ?? 'none'}\n`);
      },
    },
    deleteSub((n) => `api/v1/clusters/${enc(n)}`, 'cluster'),
  ],
});

const NODE_COLS: Array<[string, (r: Row) => unknown]> = [['ID', (r) => r.id], ['NAME', (r) => r.node_name], ['CLUSTER', (r) => r.cluster_name], ['STATUS', (r) => r.status], ['VERSION', (r) => r.version], ['LAST SEEN', (r) => r.last_seen_at]];

export const nodesCommand: CommandGroup = makeGroup({
  name: 'nodes', summary: 'list, inspect, move and delete nodes; manage aliases', globalOpts: ADMIN_GLOBAL_OPTS,
  subs: [
    listSub('api/v1/nodes', NODE_COLS, 'list nodes', [{ name: 'cluster', short: 'c', value: true, arg: 'NAME', doc: 'only this cluster' }], (o): Record<string, string> => (typeof o.cluster === 'string' ? { cluster_name: o.cluster } : {})),
    {
      name: 'get', synopsis: 'get NODE', doc: 'show one node (NODE: id, alias or name, everywhere)', opts: [], args: [1, 1],
      async run(ctx, opts, [ref], u) {
        const n = await resolveNode(admin(ctx, opts, u), ref);
        return out(ctx, opts, n, () => showRecord(n));
      },
    },
    {
      name: 'delete', synopsis: 'delete NODE', doc: 'delete a node', opts: [], args: [1, 1],
      async run(ctx, opts, [ref], u) {
        const a = admin(ctx, opts, u);
        const n = await resolveNode(a, ref);
        await a.call('DELETE', `api/v1/nodes/${enc(n.id)}`);
        if (!opts.json) await write(ctx.stderr, `deleted node ${n.node_name} (${n.id})\n`);
        return 0;
      },
    },
    {
      name: 'move', synopsis: 'move NODE CLUSTER', doc: 'move a node to another cluster (respects node_limit)', opts: [], args: [2, 2],
      async run(ctx, opts, [ref, cluster], u) {
        const a = admin(ctx, opts, u);
        const n = await resolveNode(a, ref);
        const r = await a.call<Row>('PATCH', `api/v1/nodes/${enc(n.id)}/change_cluster`, { cluster_name: cluster });
        return out(ctx, opts, r.data, () => `node ${n.node_name} is now in cluster ${r.data.cluster_name ?? cluster}\n`);
      },
    },
    {
      name: 'alias', synopsis: 'alias NODE NAME', doc: 'give a node an alias (usable wherever a node is named)', opts: [], args: [2, 2],
      async run(ctx, opts, [ref, name], u) {
        const a = admin(ctx, opts, u);
        const n = await resolveNode(a, ref);
        const r = await a.call<Row>('POST', `api/v1/nodes/${enc(n.id)}/aliases`, { name });
        return out(ctx, opts, r.data, () => `alias ${name} -> node ${n.node_name}\n`);
      },
    },
    {
      name: 'aliases', synopsis: 'aliases', doc: 'list aliases', opts: PAGE_OPTS, args: [0, 0],
      async run(ctx, opts, _a, u) {
        const { query, limit } = listQuery(opts, u);
        const a = admin(ctx, opts, u);
        const rows = await a.all<Row>('api/v1/aliases', query, limit);
        const names = await nodeNames(a, rows.map((r) => r.node_id as string));
        return out(ctx, opts, rows, () => table(rows, [['ID', (r) => r.id], ['ALIAS', (r) => r.name], ['NODE', (r) => names.get(r.node_id as string) ?? r.node_id], ['CLUSTER', (r) => r.cluster_name]]));
      },
    },
    {
      name: 'unalias', synopsis: 'unalias ALIAS', doc: 'delete an alias (its name or id)', opts: [], args: [1, 1],
      async run(ctx, opts, [ref], u) {
        const a = admin(ctx, opts, u);
        const [byName] = await a.all<Row>('api/v1/aliases', { name: ref.toLowerCase() }, 1);
        const id = byName && byName.name === ref.toLowerCase() ? String(byName.id) : ref;
        await a.call('DELETE', `api/v1/aliases/${enc(id)}`);
        if (!opts.json) await write(ctx.stderr, `deleted alias ${ref}\n`);
        return 0;
      },
    },
  ],
});

const showRecord = (d: Row) => Object.entries(d).map(([k, v]) => `${k.padEnd(22)} ${v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n';

/** Display names of the given node ids (one node list call per 100 ids); unknown ids map to themselves. */
async function nodeNames(a: AdminClient, ids: Array<string | null | undefined>): Promise<Map<string, string>> {
  const want = [...new Set(ids.filter((x): x is string => Boolean(x)))];
  if (!want.length) return new Map();
  // The node list has no id filter: read it whole when it is small, else look each id up.
  const nodes: NodeRow[] = want.length > 20
    ? await a.all<NodeRow>('api/v1/nodes')
    : (await Promise.all(want.map((id) => a.call<NodeRow>('GET', `api/v1/nodes/${enc(id)}`).then((r) => r.data, () => undefined)))).filter((n): n is NodeRow => Boolean(n));
  return displayNames(nodes);
}

export const keysCommand: CommandGroup = makeGroup({
  name: 'keys', summary: 'enrollment keys: create (prints ENROLLMENT_KEY), list, change, delete', globalOpts: ADMIN_GLOBAL_OPTS,
  subs: [
    listSub('api/v1/enrollment_keys', [['ID', (r) => r.id], ['CLUSTER', (r) => r.cluster_name], ['NAME', (r) => r.name], ['USES LEFT', (r) => (r.uses_remaining === null ? 'unlimited' : r.uses_remaining)], ['EXPIRES', (r) => r.expired_at], ['LAST USED', (r) => r.last_used_at]], 'list enrollment keys'),
    getSub((id) => `api/v1/enrollment_keys/${enc(id)}`, 'key'),
    {
      name: 'create', synopsis: 'create --cluster NAME', doc: 'create a key; prints the blob to set as ENROLLMENT_KEY', args: [0, 0],
      opts: [
        { name: 'cluster', short: 'c', value: true, arg: 'NAME', doc: 'the cluster new nodes join (default: the admin\'s default cluster)' },
        { name: 'uses', value: true, arg: 'N|unlimited', doc: 'enrollments allowed (default 1)' },
        { name: 'expires', value: true, arg: 'ISO-8601', doc: 'expiry time' },
        { name: 'name', value: true, arg: 'LABEL', doc: 'display label' },
      ],
      async run(ctx, opts, _a, u) {
        const body: Row = {};
        const uses = nullableInt(opts, 'uses', u);
        if (uses !== undefined) body.uses_remaining = uses;
        if (typeof opts.expires === 'string') body.expired_at = opts.expires;
        if (typeof opts.name === 'string') body.name = opts.name;
        const path = typeof opts.cluster === 'string' ? `api/v1/clusters/${enc(opts.cluster)}/enrollment_keys` : 'api/v1/clusters/default/enrollment_keys';
        const r = await admin(ctx, opts, u).call<Row>('POST', path, body);
        return out(ctx, opts, r.data, () => `${r.data.key}\n`);
      },
    },
    {
      name: 'set', synopsis: 'set ID', doc: 'change uses, expiry or label', args: [1, 1],
      opts: [{ name: 'uses', value: true, arg: 'N|unlimited', doc: '' }, { name: 'expires', value: true, arg: 'ISO-8601|none', doc: '' }, { name: 'name', value: true, arg: 'LABEL', doc: '' }],
      async run(ctx, opts, [id], u) {
        const body: Row = {};
        const uses = nullableInt(opts, 'uses', u);
        if (uses !== undefined) body.uses_remaining = uses;
        if (typeof opts.expires === 'string') body.expired_at = opts.expires === 'none' ? null : opts.expires;
        if (typeof opts.name === 'string') body.name = opts.name;
        if (!Object.keys(body).length) throw new UsageError('nothing to change: give --uses, --expires or --name', u);
        const r = await admin(ctx, opts, u).call<Row>('PATCH', `api/v1/enrollment_keys/${enc(id)}`, body);
        return out(ctx, opts, r.data, () => `key ${id} updated\n`);
      },
    },
    deleteSub((id) => `api/v1/enrollment_keys/${enc(id)}`, 'key'),
  ],
});

export const commandsCommand: CommandGroup = makeGroup({
  name: 'commands', summary: 'commands and their executions (see also `outpost run`)', globalOpts: ADMIN_GLOBAL_OPTS,
  subs: [
    listSub('api/v1/commands', [['ID', (r) => r.id], ['COMMAND', (r) => String(r.command_text ?? '').split('\n')[0].slice(0, 40)], ['TARGET', (r) => (r.targeting as Row | undefined)?.type], ['TIMEOUT', (r) => seconds(r.timeout)], ['CREATED', (r) => r.inserted_at]], 'list commands'),
    getSub((id) => `api/v1/commands/${enc(id)}`, 'command'),
    deleteSub((id) => `api/v1/commands/${enc(id)}`, 'command'),
    {
      name: 'executions', synopsis: 'executions [COMMAND_ID]', doc: 'list executions (of one command)', opts: [...PAGE_OPTS, NODE_OPT], args: [0, 1],
      async run(ctx, opts, [cmd], u) {
        const { query, limit } = listQuery(opts, u);
        if (cmd) query.command_id = cmd;
        const a = admin(ctx, opts, u);
        if (typeof opts.node === 'string') query.node_id = (await resolveNode(a, opts.node)).id;
        const rows = await a.all<Row>('api/v1/command_executions', query, limit);
        const names = opts.json ? new Map<string, string>() : await nodeNames(a, rows.map((r) => r.node_id as string | null));
        return out(ctx, opts, rows, () => table(rows, [['ID', (r) => r.id], ['NODE', (r) => (r.node_id ? names.get(r.node_id as string) ?? r.node_id : '(deleted)')], ['STATUS', (r) => r.status], ['EXIT', (r) => r.exit_code], ['COMPLETED', (r) => r.completed_at]]));
      },
    },
    getSubNamed('execution', 'execution ID', (id) => `api/v1/command_executions/${enc(id)}`, 'execution'),
    {
      name: 'cancel', synopsis: 'cancel EXECUTION_ID', doc: 'cancel an execution (pending: at once; running: the agent stops it)', opts: [], args: [1, 1],
      async run(ctx, opts, [id], u) {
        const r = await admin(ctx, opts, u).call<Row>('PATCH', `api/v1/command_executions/${enc(id)}/cancel`);
        return out(ctx, opts, r.data, () => `${id}: ${String((r.data as Row).result ?? (r.data as Row).status ?? 'cancel requested')}\n`);
      },
    },
  ],
});

function getSubNamed(name: string, synopsis: string, path: (id: string) => string, what: string): Sub {
  return { ...getSub(path, what), name, synopsis };
}

export const sshUsersCommand: CommandGroup = makeGroup({
  name: 'ssh-users', summary: 'SSH usernames and public keys of nodes', globalOpts: ADMIN_GLOBAL_OPTS,
  subs: [
    {
      name: 'list', synopsis: 'list', doc: 'list SSH usernames', opts: [...PAGE_OPTS, NODE_OPT], args: [0, 0],
      async run(ctx, opts, _a, u) {
        const { query, limit } = listQuery(opts, u);
        const a = admin(ctx, opts, u);
        if (typeof opts.node === 'string') query.node_id = (await resolveNode(a, opts.node)).id;
        const rows = await a.all<Row>('api/v1/ssh_usernames', query, limit);
        const names = opts.json ? new Map<string, string>() : await nodeNames(a, rows.map((r) => r.node_id as string));
        return out(ctx, opts, rows, () => table(rows, [['ID', (r) => r.id], ['USERNAME', (r) => r.username], ['NODE', (r) => names.get(r.node_id as string) ?? r.node_id], ['KEYS', (r) => (Array.isArray(r.public_keys) ? r.public_keys.length : '-')], ['CREATED', (r) => r.inserted_at]]));
      },
    },
    getSub((id) => `api/v1/ssh_usernames/${enc(id)}`, 'username'),
    {
      name: 'add', synopsis: 'add NODE USERNAME', doc: 'create a username on a node, with keys and/or a password', args: [2, 2],
      opts: [
        { name: 'key', short: 'k', value: true, arg: 'FILE', doc: 'an OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub)' },
        { name: 'password-stdin', doc: 'read a password (12-128 characters) from stdin' },
      ],
      async run(ctx, opts, [ref, username], u) {
        const body: Row = { username };
        if (typeof opts.key === 'string') body.public_keys = [readKey(opts.key, u)];
        if (opts['password-stdin']) body.password = (await readAll(ctx.stdin)).toString('utf8').replace(/\r?\n$/, '');
        const a = admin(ctx, opts, u);
        const n = await resolveNode(a, ref);
        const r = await a.call<Row>('POST', `api/v1/nodes/${enc(n.id)}/ssh_usernames`, body);
        return out(ctx, opts, r.data, () => `created ${username} on node ${ref} (id ${r.data.id})\n`);
      },
    },
    {
      name: 'add-key', synopsis: 'add-key USERNAME_ID FILE', doc: 'add a public key to a username', opts: [], args: [2, 2],
      async run(ctx, opts, [id, file], u) {
        const r = await admin(ctx, opts, u).call<Row>('POST', `api/v1/ssh_usernames/${enc(id)}/ssh_public_keys`, readKey(file, u));
        return out(ctx, opts, r.data, () => `added key ${r.data.id}\n`);
      },
    },
    deleteSub((id) => `api/v1/ssh_usernames/${enc(id)}`, 'username'),
  ],
});

function readKey(file: string, u: string): { key_name: string; public_key: string } {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8').trim(); } catch (e) { throw new UsageError(`cannot read ${file}: ${(e as Error).message}`, u); }
  const parts = text.split(/\s+/);
  return { key_name: parts[2] ?? file.split('/').pop()!, public_key: text };
}
