// `outpost recordings list|play` (a daemon's SSH session recordings, asciicast v2, played with
// their timing) and `outpost ssh [USER@]NODE` (the system ssh through the admin's SSH jump).
import { spawn } from 'node:child_process';
import os from 'node:os';
import { intOpt, type OptSpec } from './args';
import { makeAdminClient } from './admin-client';
import { makeClient, write, type CommandGroup, type Context } from './command';
import { endpoint } from './config';
import { CliError, EXIT, UsageError } from './errors';
import { ADMIN_GLOBAL_OPTS } from './fleet';
import { makeGroup, table } from './group';
import { resolveNode } from './resolve';

interface Recording { id: string; kind: string; user: string; command: string | null; started_at: string; ended_at: string | null; exit_status: number | null; bytes: number; truncated: boolean }

/** The output events of an asciicast v2 file: [seconds, "o", data]; input and resize events are skipped. */
export function castEvents(text: string): { header: Record<string, unknown>; events: Array<[number, string]> } {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) throw new CliError('the recording is empty');
  let header: Record<string, unknown>;
  try { header = JSON.parse(lines[0]); } catch { throw new CliError('the recording is not asciicast v2 (bad header line)'); }
  if (header.version !== 2) throw new CliError(`the recording is asciicast version ${String(header.version)}, not 2`);
  const events: Array<[number, string]> = [];
  for (const l of lines.slice(1)) {
    let e: unknown;
    try { e = JSON.parse(l); } catch { continue; } // a line cut by a crash
    if (Array.isArray(e) && typeof e[0] === 'number' && e[1] === 'o' && typeof e[2] === 'string') events.push([e[0], e[2]]);
  }
  return { header, events };
}

export const recordingsCommand: CommandGroup = makeGroup({
  name: 'recordings', summary: 'SSH session recordings of a daemon: list, play (MASTER_KEY)',
  notes: ['Recordings live on each node\'s data plane (--url, $OUTPOST_URL, data_url of the context).'],
  subs: [
    {
      name: 'list', synopsis: 'list', doc: 'recordings, newest first', args: [0, 0],
      opts: [{ name: 'limit', value: true, arg: 'N', doc: 'at most N (1..1000, default 100)' }],
      async run(ctx, opts, _a, u) {
        const limit = intOpt(opts, 'limit', 1, 1000, u);
        const r = await makeClient(opts, ctx.env, u).request<{ recordings: Recording[] }>('GET', ['api', 'v1', 'agent', 'ssh_recordings'], { query: { limit } });
        if (opts.json) { await write(ctx.stdout, r.text + '\n'); return 0; }
        await write(ctx.stdout, table(r.json.recordings as unknown as Array<Record<string, unknown>>, [
          ['ID', (x) => x.id], ['KIND', (x) => x.kind], ['USER', (x) => x.user], ['STARTED', (x) => x.started_at],
          ['SECONDS', (x) => (x.ended_at ? ((Date.parse(x.ended_at as string) - Date.parse(x.started_at as string)) / 1000).toFixed(1) : 'running')],
          ['EXIT', (x) => x.exit_status], ['BYTES', (x) => `${x.bytes}${x.truncated ? ' (truncated)' : ''}`], ['COMMAND', (x) => x.command],
        ]));
        return 0;
      },
    },
    {
      name: 'play', synopsis: 'play ID', doc: 'replay a recording on this terminal with its timing (--raw: the .cast file)', args: [1, 1],
      opts: [
        { name: 'speed', short: 's', value: true, arg: 'X', doc: 'play X times faster (default 1; e.g. 2, 0.5)' },
        { name: 'max-idle', value: true, arg: 'SECONDS', doc: 'cap pauses at this long (default 2; 0 = no cap)' },
        { name: 'raw', doc: 'print the asciicast file itself (for asciinema play)' },
      ],
      async run(ctx, opts, [id], u) {
        const speed = typeof opts.speed === 'string' ? Number(opts.speed) : 1;
        if (!(speed > 0) || !Number.isFinite(speed)) throw new UsageError('--speed must be a positive number', u);
        const maxIdle = typeof opts['max-idle'] === 'string' ? Number(opts['max-idle']) : 2;
        if (!(maxIdle >= 0)) throw new UsageError('--max-idle must be a number of seconds >= 0', u);
        if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new UsageError(`invalid recording id ${JSON.stringify(id)}`, u);
        const r = await makeClient(opts, ctx.env, u).request('GET', ['api', 'v1', 'agent', 'ssh_recordings', id], { raw: true });
        if (opts.raw) { await write(ctx.stdout, r.text); return 0; }
        const { events } = castEvents(r.text);
        let last = 0;
        for (const [at, data] of events) {
          let pause = Math.max(0, at - last);
          if (maxIdle > 0) pause = Math.min(pause, maxIdle);
          last = at;
          if (pause > 0) await new Promise((res) => setTimeout(res, (pause * 1000) / speed));
          await write(ctx.stdout, data);
        }
        return 0;
      },
    },
  ],
});

const SSH_OPTS: readonly OptSpec[] = [
  { name: 'jump', value: true, arg: '[USER@]HOST[:PORT]', doc: 'the admin\'s SSH jump (default jump@<admin URL host>:4022, or $OUTPOST_SSH_JUMP)' },
  { name: 'identity', short: 'i', value: true, arg: 'FILE', doc: 'private key (passed to ssh -i; it is used for the jump and the node)' },
  { name: 'print', doc: 'print the ssh command instead of running it' },
];

function sshUsage(): string {
  return [
    'usage: outpost ssh [options] [USER@]NODE [-- SSH ARGS / COMMAND...]',
    '', 'Runs the system ssh to NODE (id, alias or name) through the admin\'s SSH jump (ssh -J), so nodes',
    'behind NAT are reachable. USER is an SSH username of the node (default: $USER).',
    '', 'options:', (SSH_OPTS.map((o) => `  ${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.arg}` : ''}  ${o.doc}`)).join('\n'),
  ].join('\n');
}

export const sshCommand: CommandGroup = {
  name: 'ssh', summary: 'ssh to a node through the admin\'s jump (ssh -J)', help: sshUsage, opts: [...ADMIN_GLOBAL_OPTS, ...SSH_OPTS],
  async run(ctx: Context): Promise<number> {
    const { parseArgv } = await import('./args');
    const u = sshUsage();
    const dd = ctx.argv.indexOf('--');
    const own = dd >= 0 ? ctx.argv.slice(0, dd) : ctx.argv;
    const extra = dd >= 0 ? ctx.argv.slice(dd + 1) : [];
    const p = parseArgv(own, [...ADMIN_GLOBAL_OPTS, ...SSH_OPTS], u);
    const opts = { ...ctx.globals, ...p.opts };
    if (opts.help) { await write(ctx.stdout, u + '\n'); return 0; }
    if (p.positionals.length !== 1) throw new UsageError(p.positionals.length ? `too many arguments: ${p.positionals.slice(1).join(' ')} (ssh arguments go after --)` : 'missing NODE', u);
    const dest = p.positionals[0];
    const at = dest.lastIndexOf('@');
    const user = at > 0 ? dest.slice(0, at) : ctx.env.USER || ctx.env.LOGNAME;
    const ref = at > 0 ? dest.slice(at + 1) : dest;
    if (!user) throw new UsageError('no SSH username: write USER@NODE', u);
    if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/.test(user)) throw new UsageError(`invalid SSH username ${JSON.stringify(user)}`, u);
    // The node is resolved here for a clear "no such node"; the jump is given its id.
    const node = await resolveNode(makeAdminClient(opts, ctx.env, u), ref);
    let jump = (typeof opts.jump === 'string' && opts.jump) || ctx.env.OUTPOST_SSH_JUMP;
    if (!jump) {
      const host = new URL(endpoint('admin', opts, ctx.env).url).hostname;
      jump = `jump@${host.includes(':') ? `[${host}]` : host}:4022`;
    }
    if (!/^([A-Za-z0-9._-]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(jump)) throw new UsageError(`--jump wants [USER@]HOST[:PORT] (got ${JSON.stringify(jump)})`, u);
    const args = [...(typeof opts.identity === 'string' ? ['-i', opts.identity] : []), '-J', jump, `${user}@${node.id}`, ...extra];
    if (opts.print) { await write(ctx.stdout, ['ssh', ...args].map((a) => (/^[A-Za-z0-9@%+=:,./_[\]-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ') + '\n'); return 0; }
    return new Promise<number>((resolve, reject) => {
      const child = spawn('ssh', args, { stdio: 'inherit', env: ctx.env });
      const fwd = (sig: NodeJS.Signals) => () => child.kill(sig);
      const onInt = fwd('SIGINT');
      const onTerm = fwd('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      child.on('error', (err) => reject(new CliError(`cannot run ssh: ${err.message}`, EXIT.CONNECT)));
      child.on('close', (code, signal) => {
        process.removeListener('SIGINT', onInt);
        process.removeListener('SIGTERM', onTerm);
        resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 15) : 255));
      });
    });
  },
};
