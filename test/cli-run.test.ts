// `outpost run` against a real admin (separate CLI processes): a targeting that reaches no node
// creates nothing; an offline node is named on stderr (even with -q) with when its execution
// expires; --wait ends the wait with exit 4 saying what stays queued (or cancels it with
// --cancel-unfinished); Ctrl-C cancels; per-node headers show node names, not ids.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { startAdminApi, ADMIN_KEY } from './helpers/admin-api';
import { tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

const CLI = path.resolve(__dirname, '..', 'daemon', 'cli', 'outpost.js');

interface Run { code: number | null; out: string; err: string }
interface Live { proc: ChildProcess; out: () => string; err: () => string; done: Promise<Run> }

function start(args: string[], env: NodeJS.ProcessEnv): Live {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { err += d; });
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`outpost ${args.join(' ')} timed out:\n${err}`)); }, 30_000);
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
  return { proc, out: () => out, err: () => err, done };
}
const cli = (args: string[], env: NodeJS.ProcessEnv) => start(args, env).done;

t.test('run: no matching node, offline nodes, --wait', async (t) => {
  t.setTimeout(120_000);
  const { base, call, enrollNode } = await startAdminApi(t, { dialect: 'sqlite' } as never);
  const env = { HOME: tempDir(t), OUTPOST_ADMIN_URL: base, MASTER_KEY: ADMIN_KEY };
  const commandCount = async () => (await call('GET', '/api/v1/commands')).json.meta.pagination.total_count as number;

  await call('POST', '/api/v1/clusters', { name: 'empty' });
  let r = await cli(['run', '--cluster', 'empty', '--', 'true'], env);
  t.equal(r.code, 1, r.err);
  t.match(r.err, /matched no nodes \(cluster empty\); nothing was created/);
  r = await cli(['run', '--cluster', 'nosuch', '--', 'true'], env);
  t.equal(r.code, 1);
  t.match(r.err, /no cluster named nosuch/);
  const web1 = await enrollNode('prod', { node_name: 'web-1' });
  r = await cli(['run', '--cluster', 'prod', '--filter', 'status=healthy', '--', 'true'], env);
  t.equal(r.code, 1);
  t.match(r.err, /matched no nodes \(cluster prod with status=healthy\)/);
  r = await cli(['run', '--node', 'no-such-node', '--', 'true'], env);
  t.equal(r.code, 1);
  t.match(r.err, /no node with the id, alias or name no-such-node/);
  t.equal(await commandCount(), 0, 'none of these created a command');

  // An offline node: said at once, even with -q, by name; --wait ends with exit 4 and what stays queued.
  r = await cli(['run', '--node', 'web-1', '--wait', '1', '-q', '--', 'true'], env);
  t.equal(r.code, 4, r.err);
  t.match(r.err, /^web-1: offline, will run when it reconnects \(never expires: see --expires\)$/m);
  t.notMatch(r.err, new RegExp(web1), 'the node is named, not shown by id');
  t.match(r.err, /--wait 1 s is over; 1 of 1 nodes have not finished/);
  t.match(r.err, /not started \(node offline or busy\): web-1/);
  t.match(r.err, /stay queued and run when their node reconnects/);
  let execs = (await call('GET', '/api/v1/command_executions')).json.data;
  t.equal(execs.length, 1);
  t.equal(execs[0].status, 'pending', 'left queued');

  const at = new Date(Date.now() + 3600_000).toISOString();
  r = await cli(['run', '--node', web1, '--wait', '1', '--expires', at, '--cancel-unfinished', '--', 'true'], env);
  t.equal(r.code, 4);
  t.match(r.err, new RegExp(`web-1: offline, will run when it reconnects \\(expires ${at.slice(0, 19)}`));
  t.match(r.err, /cancelled \(--cancel-unfinished\)/);
  execs = (await call('GET', '/api/v1/command_executions?status=cancelled')).json.data;
  t.equal(execs.length, 1, '--cancel-unfinished cancelled it');

  // --timeout is the command's own in run, before or after `run`; TIMEOUT shows the flag's unit.
  r = await cli(['--timeout', '45', 'run', '--node', 'web-1', '--wait', '1', '-q', '--cancel-unfinished', '--', 'true'], env);
  t.equal(r.code, 4, r.err);
  const cmds = (await call('GET', '/api/v1/commands')).json.data;
  t.equal(cmds[0].timeout, 45_000, 'a --timeout before run is the command timeout');
  r = await cli(['commands', 'list'], env);
  t.match(r.out, /TIMEOUT/);
  t.match(r.out, /\s45s\s/, 'TIMEOUT in seconds, as --timeout takes it');

  // Without --wait the default applies (60 s): the warning comes at once; Ctrl-C cancels.
  const live = start(['run', '--node', 'web-1', '-q', '--', 'true'], env);
  await until('the offline warning', () => /web-1: offline/.test(live.err()));
  live.proc.kill('SIGINT');
  r = await live.done;
  t.equal(r.code, 130, r.err);
  t.match(r.err, /interrupted: cancelling/);
  execs = (await call('GET', '/api/v1/command_executions?status=cancelled')).json.data;
  t.equal(execs.length, 3, 'Ctrl-C cancelled it');
});
