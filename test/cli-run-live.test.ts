// Live output of `outpost run` through real daemons: an admin and two agents (enrolled with a
// key, real command runner in a PTY). Each node's output reaches the CLI while the command still
// runs (agent → tunnel CommandOutput → admin GET /commands/:id/output → CLI), prefixed by node
// name when there are several; the stored result stays complete and authoritative.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { ensureRunAs, RUN_AS, shareDir } from './helpers/commands';
import { startAdminApi, until, ADMIN_KEY } from './helpers/admin-api';

ensureRunAs();
const CLI = path.resolve(__dirname, '..', 'daemon', 'cli', 'outpost.js');

async function agent(t: Test, key: string, name: string) {
  const cfg = loadConfig(['--data-dir', tempDir(t), '--api-port', '0', '--log-level', 'silent', '--ssh-run-as', RUN_AS, '--node-name', name, ...AGENT_OFF], { ENROLLMENT_KEY: key, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const d = await startDaemon(cfg, createLogger('silent'));
  t.teardown(() => d.close());
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  return d;
}

function start(args: string[], env: NodeJS.ProcessEnv): { proc: ChildProcess; out: () => string; err: () => string; done: Promise<number | null> } {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { err += d; });
  const done = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`outpost ${args.join(' ')} timed out:\n${out}\n${err}`)); }, 60_000);
    proc.on('close', (code) => { clearTimeout(timer); resolve(code); });
  });
  return { proc, out: () => out, err: () => err, done };
}

t.test('run prints output while the command runs', async (t) => {
  t.setTimeout(180_000);
  const { base, call } = await startAdminApi(t, { dialect: 'sqlite' } as never, [], { OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  await call('POST', '/api/v1/clusters', { name: 'prod' });
  const key = (await call('POST', '/api/v1/clusters/prod/enrollment_keys', { uses_remaining: null })).json.data.key;
  const a = await agent(t, key, 'alpha');
  const b = await agent(t, key, 'bravo');
  for (const d of [a, b]) {
    const id = d.tunnel!.state!.node_id;
    await until(async () => (await call('GET', `/api/v1/nodes/${id}`)).json.data.status === 'healthy', 20_000, 'node healthy');
  }
  const env = { HOME: tempDir(t), OUTPOST_ADMIN_URL: base, MASTER_KEY: ADMIN_KEY };
  const dir = shareDir(tempDir(t));
  const flag = path.join(dir, 'go');
  const script = `echo "first from $(hostname -s >/dev/null; echo $OUTPOST_X)step1"\nwhile [ ! -e ${flag} ]; do sleep 0.05; done\necho step2\nexit 3`;

  // One node: the output as is, then the status line under the node's name.
  const one = start(['run', '--node', 'alpha', '-q', '--', script], env);
  await until(async () => one.out().includes('step1\n'), 30_000, 'the first line while the command runs');
  const execs = (await call('GET', '/api/v1/command_executions?status=sent')).json.data;
  t.equal(execs.length, 1, 'the execution is still running when its first line is shown');
  t.notMatch(one.out(), /step2/);
  fs.writeFileSync(flag, '');
  t.equal(await one.done, 1, 'exit 3 on the node: run exits 1');
  t.equal(one.out(), 'first from step1\nstep2\n=== alpha: completed, exit 3 ===\n', 'each byte once, then the status');
  const stored = (await call('GET', `/api/v1/command_executions/${execs[0].id}`)).json.data;
  t.equal(stored.output, 'first from step1\nstep2\n', 'the stored result is complete');
  fs.rmSync(flag);

  // Two nodes: complete lines prefixed with the node name, live.
  const two = start(['run', '--cluster', 'prod', '-q', '--', script], env);
  await until(async () => /^alpha \| first from step1$/m.test(two.out()) && /^bravo \| first from step1$/m.test(two.out()), 30_000, 'both first lines');
  t.notMatch(two.out(), /step2/, 'shown before either node finished');
  fs.writeFileSync(flag, '');
  t.equal(await two.done, 1);
  const lines = two.out().split('\n').filter(Boolean).sort();
  t.same(lines, [
    'alpha | === completed, exit 3 ===', 'alpha | first from step1', 'alpha | step2',
    'bravo | === completed, exit 3 ===', 'bravo | first from step1', 'bravo | step2',
  ]);
});
