// `outpost run --cluster prod -- 'uptime'`: checks which nodes the targeting reaches (nothing is
// created when none), creates a command on the admin, says which targeted nodes are offline (their
// executions wait for the node to reconnect), shows a progress bar (pending / sent / completed /
// failed) on stderr, prints each node's output as it is produced (GET /commands/:id/output,
// prefixed by node name when several) completed from the stored result, and exits 0 only when
// every node exited 0. It stops waiting after --wait; Ctrl-C cancels what has not finished.
import { intOpt, optionHelp, parseArgv, type OptSpec } from './args';
import { makeAdminClient, type AdminClient } from './admin-client';
import { write, type CommandGroup, type Context } from './command';
import { CliError, EXIT, UsageError } from './errors';
import { ADMIN_GLOBAL_OPTS } from './fleet';
import { displayNames, isOffline, resolveNodes, type NodeRow } from './resolve';

/** Default --wait: long enough for a quick command on a connected fleet, short enough that an offline node does not hang a script. */
export const DEFAULT_WAIT_S = 60;
/** Exit status when --wait ended with executions not finished (they stay queued or running). */
export const EXIT_UNFINISHED = 4;

const OPTS: readonly OptSpec[] = [
  { name: 'cluster', short: 'c', value: true, arg: 'NAME[,NAME]', doc: 'every node of these clusters' },
  { name: 'node', short: 'n', value: true, arg: 'NODE[,NODE]', doc: 'these nodes (id, alias or name)' },
  { name: 'all', doc: 'every node' },
  { name: 'filter', value: true, arg: 'FIELD=VALUE[,…]', doc: 'node_filters, e.g. status=healthy' },
  { name: 'timeout', value: true, arg: 'SECONDS', doc: 'the command\'s own timeout: stopped on each node after this long (exit 143)' },
  { name: 'expires', value: true, arg: 'ISO-8601', doc: 'executions not started by then expire (default: never)' },
  { name: 'wait', value: true, arg: 'SECONDS', doc: `stop waiting after this long (default ${DEFAULT_WAIT_S}, or --timeout + 30 when larger; 0 = no limit)` },
  { name: 'cancel-unfinished', doc: 'when --wait ends, cancel what has not finished (default: it stays queued / running)' },
  { name: 'quiet', short: 'q', doc: 'no progress bar (warnings still go to stderr)' },
];

interface Exec { id: string; node_id: string | null; status: string; exit_code: number | null; output?: string | null; error?: string | null }

const TERMINAL = new Set(['completed', 'cancelled', 'expired', 'failed']);

function usage(): string {
  return [
    "usage: outpost run (--cluster NAME | --node NODE | --all) [options] -- COMMAND...",
    '', 'Runs COMMAND on the targeted nodes through the admin and prints each node\'s output and exit code.',
    'Executions of offline nodes wait for the node to reconnect (until --expires); `run` says so and',
    'stops waiting after --wait, leaving them queued (or cancelling them with --cancel-unfinished).',
    '', 'options:', optionHelp(OPTS), '', 'global options:', optionHelp(ADMIN_GLOBAL_OPTS.filter((o) => o.name !== 'timeout')),
    '', '--timeout here is the command\'s own (seconds, also when written before `run`); the HTTP timeout is --request-timeout.',
    '', `Exit status: 0 every node exited 0; 1 some node failed, was cancelled or expired, or no node matched; 2 usage error;`,
    `3 cannot connect; ${EXIT_UNFINISHED} --wait ended before every node finished; 130 interrupted.`,
  ].join('\n');
}

export function progressLine(counts: Record<string, number>, total: number, width = 24): string {
  const done = (counts.completed ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0) + (counts.expired ?? 0);
  const filled = total ? Math.round((done / total) * width) : width;
  const parts = [`${done}/${total} done`, `${counts.sent ?? 0} running`, `${counts.pending ?? 0} pending`];
  if (counts.failed) parts.push(`${counts.failed} failed`);
  const bad = (counts.cancelled ?? 0) + (counts.expired ?? 0);
  if (bad) parts.push(`${bad} cancelled/expired`);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${parts.join('  ')}`;
}

async function fetchAll(client: AdminClient, commandId: string): Promise<Exec[]> {
  return client.all<Exec>('api/v1/command_executions', { command_id: commandId });
}

function parseFilter(raw: string, u: string): Record<string, string> {
  const f: Record<string, string> = Object.create(null);
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter wants FIELD=VALUE (got ${JSON.stringify(part)})`, u);
    f[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return f;
}

/**
 * The nodes a targeting reaches, asked of the admin's node list with the same filters the
 * command's targeting applies, so that a targeting reaching no node creates nothing.
 */
async function targetNodes(client: AdminClient, opts: Record<string, unknown>, filter: Record<string, string>): Promise<NodeRow[]> {
  if (typeof opts.node === 'string') {
    const nodes = await resolveNodes(client, opts.node.split(',').filter(Boolean));
    if (!Object.keys(filter).length) return nodes;
    const ok = new Set((await client.all<NodeRow>('api/v1/nodes', { ...filter })).map((n) => n.id));
    return nodes.filter((n) => ok.has(n.id));
  }
  if (typeof opts.cluster === 'string') {
    const out: NodeRow[] = [];
    for (const name of [...new Set(opts.cluster.split(',').filter(Boolean))]) {
      if (name.includes('*')) throw new CliError(`--cluster takes cluster names, not patterns (got ${name}); use --all --filter cluster_name=${name}`, EXIT.USAGE);
      await client.call('GET', `api/v1/clusters/${encodeURIComponent(name)}`).catch((err) => {
        if ((err as { status?: number }).status === 404) throw new CliError(`no cluster named ${name}; nothing was run`);
        throw err;
      });
      out.push(...await client.all<NodeRow>('api/v1/nodes', { ...filter, cluster_name: name }));
    }
    return out;
  }
  return client.all<NodeRow>('api/v1/nodes', { ...filter });
}

function describeTarget(opts: Record<string, unknown>): string {
  const what = typeof opts.cluster === 'string' ? `cluster ${opts.cluster}` : typeof opts.node === 'string' ? `node ${opts.node}` : 'the fleet';
  return typeof opts.filter === 'string' ? `${what} with ${opts.filter}` : what;
}

interface LiveChunk { execution_id: string; offset: number; data: string }

/**
 * Prints each node's output as it arrives: as is for one node; for several, complete lines
 * prefixed with the node name (a partial line waits for its end, so lines of two nodes never
 * mix). Tracks the bytes printed per execution so that the final, authoritative output only
 * adds what the live view missed; a gap in the live pieces stops the live view of that node.
 */
class LivePrinter {
  private readonly printed = new Map<string, number>();
  private readonly broken = new Set<string>();
  private readonly partial = new Map<string, string>();
  private readonly done = new Set<string>();
  private readonly width: number;

  constructor(private readonly ctx: Context, private readonly multi: boolean, private readonly nameOf: (e: Exec) => string, execs: Exec[], private readonly clearLine: () => Promise<void>) {
    this.width = Math.max(0, ...execs.map((e) => nameOf(e).length));
  }

  private prefix(e: Exec): string { return `${this.nameOf(e).padEnd(this.width)} | `; }

  private async emit(e: Exec, text: string): Promise<void> {
    if (!text) return;
    await this.clearLine();
    if (!this.multi) { await write(this.ctx.stdout, text); this.partial.set(e.id, text.endsWith('\n') ? '' : 'x'); return; }
    const all = (this.partial.get(e.id) ?? '') + text;
    const cut = all.lastIndexOf('\n');
    this.partial.set(e.id, all.slice(cut + 1));
    if (cut < 0) return;
    await write(this.ctx.stdout, all.slice(0, cut).split('\n').map((l) => this.prefix(e) + l + '\n').join(''));
  }

  async chunk(e: Exec, c: LiveChunk): Promise<void> {
    if (this.done.has(e.id) || this.broken.has(e.id)) return;
    const have = this.printed.get(e.id) ?? 0;
    let buf = Buffer.from(c.data, 'utf8');
    if (c.offset > have) { this.broken.add(e.id); return; } // a piece was lost: the final output fills in
    if (c.offset + buf.length <= have) return;
    buf = buf.subarray(have - c.offset);
    this.printed.set(e.id, have + buf.length);
    await this.emit(e, buf.toString('utf8'));
  }

  /** The execution ended: what the live view missed of its stored output, then its status line. */
  async finish(e: Exec, status: string): Promise<void> {
    if (this.done.has(e.id)) return;
    this.done.add(e.id);
    const have = this.printed.get(e.id) ?? 0;
    const final = Buffer.from(e.output ?? '', 'utf8');
    if (have === 0) await this.emit(e, final.toString('utf8'));
    else if (final.length > have && !final.includes('[outpost: output truncated,')) await this.emit(e, final.subarray(have).toString('utf8'));
    else if (final.length < have || final.includes('[outpost: output truncated,')) await write(this.ctx.stderr, `${this.nameOf(e)}: the stored output was truncated; the live output above is longer\n`);
    const rest = this.partial.get(e.id) ?? '';
    await this.clearLine();
    if (this.multi) {
      if (rest) await write(this.ctx.stdout, `${this.prefix(e)}${rest}\n`);
      await write(this.ctx.stdout, `${this.prefix(e)}=== ${status} ===\n`);
    } else {
      if (rest) await write(this.ctx.stdout, '\n');
      await write(this.ctx.stdout, `=== ${this.nameOf(e)}: ${status} ===\n`);
    }
  }
}

const statusText = (e: Exec) => `${e.status}${e.exit_code === null ? '' : `, exit ${e.exit_code}`}${e.error ? ` (${e.error})` : ''}`;

export const runCommand: CommandGroup = {
  name: 'run',
  summary: 'run a command on nodes and follow it live',
  opts: [...ADMIN_GLOBAL_OPTS.filter((o) => o.name !== 'timeout'), ...OPTS],
  help: usage,
  async run(ctx: Context): Promise<number> {
    const u = usage();
    const p = parseArgv(ctx.argv, [...ADMIN_GLOBAL_OPTS.filter((o) => o.name !== 'timeout'), ...OPTS], u);
    // One meaning per command: in run, --timeout is the command's own, also when given before
    // `run`; the HTTP timeout is --request-timeout.
    const opts = { ...ctx.globals, ...p.opts };
    if (opts.help) { await write(ctx.stdout, u + '\n'); return 0; }
    if (ctx.globals.help) { await write(ctx.stdout, u + '\n'); return 0; }
    const text = p.positionals.join(' ').trim();
    if (!text) throw new UsageError('missing COMMAND (after --)', u);
    const targets = [opts.cluster, opts.node, opts.all].filter(Boolean).length;
    if (targets !== 1) throw new UsageError('give exactly one of --cluster, --node or --all', u);
    const filter = typeof opts.filter === 'string' ? parseFilter(opts.filter, u) : Object.create(null) as Record<string, string>;
    const timeout = intOpt(opts, 'timeout', 1, 604_800, u);
    const waitOpt = intOpt(opts, 'wait', 0, 86_400 * 7, u);
    const waitS = waitOpt ?? Math.max(DEFAULT_WAIT_S, (timeout ?? 0) + 30);
    const client = makeAdminClient({ ...opts, timeout: undefined }, ctx.env, u);

    const nodes = await targetNodes(client, opts, filter);
    if (!nodes.length) throw new CliError(`the targeting matched no nodes (${describeTarget(opts)}); nothing was created`);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const names = displayNames(nodes);
    const nameOf = (id: string | null) => (id ? names.get(id) ?? id : '(deleted node)');

    const targeting: Record<string, unknown> = opts.all ? { type: 'all' }
      : typeof opts.cluster === 'string' ? { type: 'clusters', cluster_names: [...new Set(opts.cluster.split(',').filter(Boolean))] }
        : { type: 'nodes', node_ids: nodes.map((n) => n.id) };
    if (Object.keys(filter).length) targeting.node_filters = { ...filter };
    const body: Record<string, unknown> = { command_text: text, targeting };
    if (timeout) body.timeout = timeout * 1000;
    if (typeof opts.expires === 'string') body.expired_at = opts.expires;
    const created = await client.call<{ id: string; expired_at: string | null }>('POST', 'api/v1/commands', body);
    const commandId = created.data.id;
    const expires = created.data.expired_at ? `expires ${created.data.expired_at}` : 'never expires: see --expires';
    const tty = Boolean((ctx.stderr as { isTTY?: boolean }).isTTY) && !opts.quiet && !opts.json;
    if (!opts.json && !opts.quiet) await write(ctx.stderr, `command ${commandId}\n`);

    let interrupted = false;
    const onSigint = () => { interrupted = true; };
    process.once('SIGINT', onSigint);
    const printed = new Set<string>();
    const deadline = waitS ? Date.now() + waitS * 1000 : Infinity;
    let execs: Exec[] = [];
    let warned = false;
    // Live output (GET /commands/:id/output); an admin without the route gets the old view.
    let live: LivePrinter | undefined;
    let liveOn = !opts.json;
    let cursor = 0;
    const clearLine = async () => { if (tty) await write(ctx.stderr, '\r\x1b[2K'); };
    try {
      for (;;) {
        execs = await fetchAll(client, commandId);
        if (execs.length === 0) {
          // The fleet changed between the check and the create: leave nothing behind.
          await client.call('DELETE', `api/v1/commands/${encodeURIComponent(commandId)}`).catch(() => undefined);
          throw new CliError(`the targeting matched no nodes (${describeTarget(opts)}); nothing was run`);
        }
        if (!warned) {
          warned = true;
          // Said even with -q: a silent wait on an offline node looks like a hang.
          const offline = execs.filter((e) => e.status === 'pending' && e.node_id && isOffline(byId.get(e.node_id)?.status));
          if (offline.length) {
            await clearLine();
            await write(ctx.stderr, offline.map((e) => `${nameOf(e.node_id)}: offline, will run when it reconnects (${expires})\n`).join(''));
          }
          if (liveOn) live = new LivePrinter(ctx, execs.length > 1, (e) => nameOf(e.node_id), execs, clearLine);
        }
        const counts: Record<string, number> = Object.create(null);
        for (const e of execs) {
          const k = e.status === 'completed' && e.exit_code !== 0 ? 'failed' : e.status;
          counts[k] = (counts[k] ?? 0) + 1;
        }
        if (live && liveOn) {
          // Pieces first, then the final output of what has ended adds what they missed.
          try {
            const r = await client.call<{ cursor: number; chunks: LiveChunk[] }>('GET', `api/v1/commands/${encodeURIComponent(commandId)}/output`, undefined, { cursor });
            cursor = r.data.cursor;
            const byExec = new Map(execs.map((e) => [e.id, e]));
            for (const c of r.data.chunks) { const e = byExec.get(c.execution_id); if (e) await live.chunk(e, c); }
          } catch (err) {
            if ((err as { status?: number }).status !== 404 && (err as { status?: number }).status !== 400) throw err;
            liveOn = false;
          }
        }
        for (const e of execs) {
          if (!TERMINAL.has(e.status) || printed.has(e.id) || opts.json) continue;
          printed.add(e.id);
          if (live) { await live.finish(e, statusText(e)); continue; }
          const head = `=== ${nameOf(e.node_id)}: ${statusText(e)} ===\n`;
          let out = e.output ?? '';
          if (out && !out.endsWith('\n')) out += '\n';
          await clearLine();
          await write(ctx.stdout, head + out);
        }
        const done = execs.every((e) => TERMINAL.has(e.status));
        if (tty) await write(ctx.stderr, `\r\x1b[2K${progressLine(counts, execs.length)}`);
        if (done) break;
        if (interrupted) {
          if (tty) await write(ctx.stderr, '\n');
          await write(ctx.stderr, 'interrupted: cancelling executions that have not finished\n');
          await cancelOpen(client, execs);
          return 130;
        }
        if (Date.now() > deadline) {
          if (tty) await write(ctx.stderr, '\n');
          return await waitEnded(ctx, client, execs, { commandId, waitS, expires, cancel: Boolean(opts['cancel-unfinished']), nameOf, json: Boolean(opts.json) });
        }
        if (live && liveOn) {
          // Long-poll: back as soon as a node prints, at most a second later for status changes.
          await client.call('GET', `api/v1/commands/${encodeURIComponent(commandId)}/output`, undefined, { cursor, wait_ms: 1000 })
            .then((r) => r.data as { cursor: number; chunks: LiveChunk[] })
            .then(async (d) => {
              const byExec = new Map(execs.map((e) => [e.id, e]));
              for (const c of d.chunks) { const e = byExec.get(c.execution_id); if (e) await live!.chunk(e, c); }
              cursor = d.cursor;
            }, () => new Promise((r) => setTimeout(r, 250)));
        } else {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    if (tty) await write(ctx.stderr, '\n');
    if (opts.json) await write(ctx.stdout, JSON.stringify({ command_id: commandId, executions: execs }, null, 2) + '\n');
    const ok = execs.filter((e) => e.status === 'completed' && e.exit_code === 0).length;
    if (!opts.json && !opts.quiet) await write(ctx.stderr, `${ok}/${execs.length} nodes exited 0\n`);
    return ok === execs.length ? 0 : 1;
  },
};

async function cancelOpen(client: AdminClient, execs: Exec[]): Promise<void> {
  for (const e of execs) if (!TERMINAL.has(e.status)) await client.call('PATCH', `api/v1/command_executions/${encodeURIComponent(e.id)}/cancel`).catch(() => undefined);
}

/** --wait is over: say what is unfinished and what becomes of it; exit EXIT_UNFINISHED. */
async function waitEnded(ctx: Context, client: AdminClient, execs: Exec[], o: { commandId: string; waitS: number; expires: string; cancel: boolean; nameOf: (id: string | null) => string; json: boolean }): Promise<number> {
  const open = execs.filter((e) => !TERMINAL.has(e.status));
  const pending = open.filter((e) => e.status === 'pending');
  const running = open.filter((e) => e.status !== 'pending');
  const list = (xs: Exec[]) => xs.map((e) => o.nameOf(e.node_id)).join(', ');
  const lines = [`outpost: --wait ${o.waitS} s is over; ${open.length} of ${execs.length} nodes have not finished`];
  if (pending.length) lines.push(`  not started (node offline or busy): ${list(pending)}`);
  if (running.length) lines.push(`  still running: ${list(running)}`);
  if (o.cancel) {
    await cancelOpen(client, open);
    lines.push('  cancelled (--cancel-unfinished): pending ones never run, running ones are stopped');
  } else {
    if (pending.length) lines.push(`  pending executions stay queued and run when their node reconnects (${o.expires})`);
    lines.push(`  follow: outpost commands executions ${o.commandId}; cancel: outpost commands cancel EXECUTION_ID`);
  }
  if (o.json) await write(ctx.stdout, JSON.stringify({ command_id: o.commandId, executions: execs }, null, 2) + '\n');
  await write(ctx.stderr, lines.join('\n') + '\n');
  return EXIT_UNFINISHED;
}
