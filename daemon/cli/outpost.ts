#!/usr/bin/env node
// outpost: the operator CLI. Parses global options, dispatches to a command group
// (kv against a daemon; clusters, nodes, keys, ssh-users, commands and run against an admin), and turns errors into exit codes.
import { optionHelp, parseArgv } from './args';
import { GLOBAL_OPTS, write, type CommandGroup, type Context } from './command';
import { CliError, EXIT, UsageError } from './errors';
import { kvCommand } from './kv';
import { clustersCommand, commandsCommand, keysCommand, nodesCommand, sshUsersCommand } from './fleet';
import { runCommand } from './run';
import { configCommand } from './config-cmd';
import { completionCommand } from './completion';
import { versionCommand } from './version-cmd';
import { queueCommand, streamCommand, tsCommand } from './data';
import { recordingsCommand, sshCommand } from './ops';
import { VERSION } from '../base/version';

export const GROUPS: readonly CommandGroup[] = [
  kvCommand, queueCommand, streamCommand, tsCommand, recordingsCommand,
  clustersCommand, nodesCommand, keysCommand, sshUsersCommand, commandsCommand, runCommand, sshCommand,
  configCommand, versionCommand,
];
const ALL: readonly CommandGroup[] = [...GROUPS, completionCommand(() => ({ groups: ALL, globals: [...GLOBAL_OPTS, { name: 'version', doc: 'print the client version' }] }))];

export function usage(): string {
  const w = Math.max(...ALL.map((g) => g.name.length));
  return [
    'usage: outpost [global options] <command> [args]',
    '',
    'commands:',
    ...ALL.map((g) => `  ${g.name.padEnd(w)}  ${g.summary}`),
    '',
    'global options:',
    optionHelp([...GLOBAL_OPTS.map((o) => (o.name === 'url' ? { ...o, doc: 'the server: a daemon\'s data plane or the admin, per command (see below)' } : o.name === 'token' ? { ...o, doc: 'bearer token (default $OUTPOST_TOKEN, $MASTER_KEY, $API_KEY, then the context)' } : o)), { name: 'version', doc: 'print the client version (`outpost version` asks the servers too)' }]),
    '',
    'kv, queue, stream, ts and recordings talk to a daemon\'s data plane (--url, $OUTPOST_URL, data_url of the context; default http://127.0.0.1:44000);',
    'the other commands talk to an admin (--url, $OUTPOST_ADMIN_URL, url of the context; default http://127.0.0.1:4000).',
    'Token: --token, then $OUTPOST_TOKEN, $MASTER_KEY, $API_KEY, then the context (`outpost config --help`).',
    'Run `outpost <command> --help` for a command\'s options.',
    'Exit status: 0 ok, 1 not found / conflict / server error, 2 usage error, 3 cannot connect.',
  ].join('\n');
}

export async function run(argv: string[], io: Omit<Context, 'argv' | 'globals'>): Promise<number> {
  try {
    const head = parseArgv(argv, [...GLOBAL_OPTS, { name: 'version', doc: '' }], usage(), true);
    const [name, ...rest] = head.positionals;
    if (head.opts.version) { await write(io.stdout, `outpost ${VERSION}\n`); return EXIT.OK; }
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? ALL.find((g) => g.name === rest[0]) : undefined;
      if (head.opts.help || name === 'help') { await write(io.stdout, (topic ? topic.help() : usage()) + '\n'); return EXIT.OK; }
      throw new UsageError('missing command', usage());
    }
    const group = ALL.find((g) => g.name === name);
    if (!group) throw new UsageError(`unknown command '${name}'`, usage());
    try {
      return await group.run({ ...io, argv: rest, globals: head.opts });
    } catch (err) {
      if (err instanceof UsageError) err.cmd ??= group.name;
      throw err;
    }
  } catch (err) {
    if (err instanceof CliError) {
      let text = `outpost: ${err.message}\n`;
      if (err instanceof UsageError) text += `${err.hint}\n`;
      await write(io.stderr, text);
      return err.exitCode;
    }
    await write(io.stderr, `outpost: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.FAILED;
  }
}

if (require.main === module) {
  // A closed stdout (e.g. `outpost kv scan --all | head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(EXIT.OK); throw err; });
  void run(process.argv.slice(2), { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr })
    .then((code) => process.exit(code));
}
