// `outpost run --cluster prod -- 'uptime'`: creates a command on the admin, shows a live
// progress bar of its executions (pending / sent / completed / failed) on stderr, prints each
// node's output and exit code as it finishes, and exits 0 only when every node exited 0.
// Ctrl-C cancels the executions that have not finished.
import { intOpt, optionHelp, parseArgv, type OptSpec } from './args';
import { makeAdminClient, type AdminClient } from './admin-client';
import { write, type CommandGroup, type Context } from './command';
import { CliError, EXIT, UsageError } from './errors';
import { ADMIN_GLOBAL_OPTS } from './fleet';

const OPTS: readonly OptSpec[] = [
  { name: 'cluster', short: 'c', value: true, arg: 'NAME[,NAME]', doc: 'every node of these clusters' },
  { name: 'node', short: 'n', value: true, arg: 'ID[,ID]', doc: 'these nodes (ids, names or aliases as the admin resolves them)' },
  { name: 'all', doc: 'every node' },
  { name: 'filter', value: true, arg: 'FIELD=VALUE[,…]', doc: 'node_filters, e.g. status=healthy' },
  { name: 'timeout', value: true, arg: 'SECONDS', doc: 'stop the command on each node after this long (exit 143)' },
  { name: 'expires', value: true, arg: 'ISO-8601', doc: 'executions not started by then expire' },
  { name: 'wait', value: true, arg: 'SECONDS', doc: 'stop waiting after this long (the command keeps running)' },
  { name: 'quiet', short: 'q', doc: 'no progress bar' },
];

interface Exec { id: string; node_id: string | null; status: string; exit_code: number | null; output?: string | null; error?: string | null }

const TERMINAL = new Set(['completed', 'cancelled', 'expired', 'failed']);

function usage(): string {
  return [
    "usage: outpost run (--cluster NAME | --node ID | --all) [options] -- COMMAND...",
    '', 'Runs COMMAND on the targeted nodes through the admin and prints each node\'s output and exit code.',
    '', 'options:', optionHelp(OPTS), '', 'global options:', optionHelp(ADMIN_GLOBAL_OPTS),
    '', 'Exit status: 0 every node exited 0; 1 some node failed, was cancelled or expired; 2 usage error; 3 cannot connect; 130 interrupted.',
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

export const runCommand: CommandGroup = {
  name: 'run',
  summary: 'run a command on nodes and follow it live',
  help: usage,
  async run(ctx: Context): Promise<number> {
    const u = usage();
    const p = parseArgv(ctx.argv, [...ADMIN_GLOBAL_OPTS.filter((o) => o.name !== 'timeout'), ...OPTS], u);
    const opts = { ...ctx.globals, ...p.opts };
    if (opts.help) { await write(ctx.stdout, u + '\n'); return 0; }
    const text = p.positionals.join(' ').trim();
    if (!text) throw new UsageError('missing COMMAND (after --)', u);
    const targets = [opts.cluster, opts.node, opts.all].filter(Boolean).length;
    if (targets !== 1) throw new UsageError('give exactly one of --cluster, --node or --all', u);
    const targeting: Record<string, unknown> = opts.all ? { type: 'all' }
      : typeof opts.cluster === 'string' ? { type: 'clusters', cluster_names: opts.cluster.split(',').filter(Boolean) }
        : { type: 'nodes', node_ids: String(opts.node).split(',').filter(Boolean) };
    if (typeof opts.filter === 'string') {
      const f: Record<string, string> = Object.create(null); // FIELD=VALUE names are the user's
      for (const part of opts.filter.split(',')) {
        const eq = part.indexOf('=');
        if (eq <= 0) throw new UsageError(`--filter wants FIELD=VALUE (got ${JSON.stringify(part)})`, u);
        f[part.slice(0, eq)] = part.slice(eq + 1);
      }
      targeting.node_filters = f;
    }
    const timeout = intOpt(opts, 'timeout', 1, 604_800, u);
    const waitS = intOpt(opts, 'wait', 1, 86_400 * 7, u);
    // --timeout is the command's; the HTTP timeout stays at its default here.
    const client = makeAdminClient({ ...opts, timeout: undefined }, ctx.env, u);
    const body: Record<string, unknown> = { command_text: text, targeting };
    if (timeout) body.timeout = timeout * 1000;
    if (typeof opts.expires === 'string') body.expired_at = opts.expires;
    const created = await client.call<{ id: string }>('POST', 'api/v1/commands', body);
    const commandId = created.data.id;
    const tty = Boolean((ctx.stderr as { isTTY?: boolean }).isTTY) && !opts.quiet && !opts.json;
    if (!opts.json) await write(ctx.stderr, `command ${commandId}\n`);

    let interrupted = false;
    const onSigint = () => { interrupted = true; };
    process.once('SIGINT', onSigint);
    const printed = new Set<string>();
    const deadline = waitS ? Date.now() + waitS * 1000 : Infinity;
    let execs: Exec[] = [];
    try {
      for (;;) {
        execs = await fetchAll(client, commandId);
        const counts: Record<string, number> = Object.create(null);
        for (const e of execs) {
          const k = e.status === 'completed' && e.exit_code !== 0 ? 'failed' : e.status;
          counts[k] = (counts[k] ?? 0) + 1;
        }
        for (const e of execs) {
          if (!TERMINAL.has(e.status) || printed.has(e.id) || opts.json) continue;
          printed.add(e.id);
          const head = `=== node ${e.node_id ?? '(deleted)'}: ${e.status}${e.exit_code === null ? '' : `, exit ${e.exit_code}`}${e.error ? ` (${e.error})` : ''} ===\n`;
          let body = e.output ?? '';
          if (body && !body.endsWith('\n')) body += '\n';
          if (tty) await write(ctx.stderr, '\r\x1b[2K');
          await write(ctx.stdout, head + body);
        }
        const done = execs.length > 0 && execs.every((e) => TERMINAL.has(e.status));
        if (tty) await write(ctx.stderr, `\r\x1b[2K${progressLine(counts, execs.length)}`);
        // Executions are created with the command, in one transaction: none now means none ever.
        if (done || execs.length === 0) break;
        if (interrupted) {
          if (tty) await write(ctx.stderr, '\n');
          await write(ctx.stderr, 'interrupted: cancelling executions that have not finished\n');
          for (const e of execs) if (!TERMINAL.has(e.status)) await client.call('PATCH', `api/v1/command_executions/${encodeURIComponent(e.id)}/cancel`).catch(() => undefined);
          return 130;
        }
        if (Date.now() > deadline) {
          if (tty) await write(ctx.stderr, '\n');
          throw new CliError(`still running after --wait ${waitS} s; follow it with: outpost commands executions ${commandId}`, EXIT.FAILED);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    if (tty) await write(ctx.stderr, '\n');
    if (opts.json) await write(ctx.stdout, JSON.stringify({ command_id: commandId, executions: execs }, null, 2) + '\n');
    const ok = execs.filter((e) => e.status === 'completed' && e.exit_code === 0).length;
    if (!opts.json) await write(ctx.stderr, `${ok}/${execs.length} nodes exited 0\n`);
    if (execs.length === 0) throw new CliError('the targeting matched no nodes', EXIT.FAILED);
    return ok === execs.length ? 0 : 1;
  },
};
