// Durability of command executions across agent restarts: after a SIGKILL, a command that was
// running is reported failed with the reason, finished results are still there and pending ones
// run; after a SIGTERM, running commands are killed and recorded as ended by the shutdown.
import t from 'tap';
import { spawnDaemon, tempDir } from './helpers/daemon';
import { api, ensureRunAs, MASTER, run, RUN_AS, running, terminal, until, waitFor } from './helpers/commands';

ensureRunAs();
const ENV = { MASTER_KEY: MASTER };

t.test('SIGKILL of the agent: the running command fails with the reason, results survive, pending ones run', async (t) => {
  t.setTimeout(60_000);
  const dataDir = tempDir(t);
  const args = ['--data-dir', dataDir, '--ssh-run-as', RUN_AS];
  const d1 = await spawnDaemon(t, args, { ...ENV, OUTPOST_COMMANDS_MAX_CONCURRENT: '1' });
  const done = await waitFor(d1.url, (await run(d1.url, { command_text: 'echo finished-before' })).id, terminal);
  const long = await run(d1.url, { command_text: 'echo "pid=$$"\nsleep 300' });
  const queued = await run(d1.url, { command_text: 'echo resumed' });
  const seen = await waitFor(d1.url, long.id, (e) => e.status === 'sent' && /pid=\d+/.test(e.output ?? ''));
  const shellPid = Number(/pid=(\d+)/.exec(seen.output)![1]);
  t.equal((await api(d1.url, 'GET', `/api/v1/agent/command_executions/${queued.id}`)).body.data.status, 'pending');
  d1.proc.kill('SIGKILL');
  await d1.exited;

  const d2 = await spawnDaemon(t, args, ENV);
  const after = (await api(d2.url, 'GET', `/api/v1/agent/command_executions/${long.id}`)).body.data;
  t.match(after, { status: 'completed', exit_code: null, error: 'agent restarted while the command was running' });
  t.ok(after.completed_at, 'it has an end time');
  const before = (await api(d2.url, 'GET', `/api/v1/agent/command_executions/${done.id}`)).body.data;
  t.match(before, { status: 'completed', exit_code: 0, output: 'finished-before\n' }, 'a result from before the kill is still there');
  const resumed = await waitFor(d2.url, queued.id, terminal);
  t.match(resumed, { status: 'completed', exit_code: 0, output: 'resumed\n' }, 'the pending command ran after the restart');
  t.ok(await until(() => !running(shellPid)), 'the command died with the agent (its terminal hung up)');
});

t.test('SIGTERM of the agent: running commands are killed and recorded as ended by the shutdown', async (t) => {
  t.setTimeout(60_000);
  const dataDir = tempDir(t);
  const args = ['--data-dir', dataDir, '--ssh-run-as', RUN_AS];
  const d1 = await spawnDaemon(t, args, ENV);
  const long = await run(d1.url, { command_text: 'sleep 300 &\necho "child=$!"\nwait' });
  const seen = await waitFor(d1.url, long.id, (e) => e.status === 'sent' && /child=\d+/.test(e.output ?? ''));
  const child = Number(/child=(\d+)/.exec(seen.output)![1]);
  d1.proc.kill('SIGTERM');
  const exit = await d1.exited;
  t.equal(exit.code, 0, 'clean exit');
  t.notOk(running(child), 'the command\'s process group is gone');

  const d2 = await spawnDaemon(t, args, ENV);
  const after = (await api(d2.url, 'GET', `/api/v1/agent/command_executions/${long.id}`)).body.data;
  t.match(after, { status: 'completed', exit_code: 143, error: 'agent shut down while the command was running' });
  t.match(after.output, /child=\d+/, 'its output is kept');
});
