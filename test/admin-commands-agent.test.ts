// Commands through a real agent, on SQLite and PostgreSQL: an admin daemon and an agent daemon
// (ENROLLMENT_KEY, real command runner: bash in a PTY as the run-as account) in this process.
// Output and exit code come back to the execution; a cancel of a sent `sleep 30` ends it as
// cancelled with exit 143; a command created while the agent is down runs when it reconnects.
import type { Test } from 'tap';
import t from 'tap';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { ensureRunAs, RUN_AS } from './helpers/commands';
import { startAdminApi, until } from './helpers/admin-api';
import { bothDialects } from './helpers/postgres';

ensureRunAs();

async function agent(t: Test, dataDir: string, key: string) {
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', '--ssh-run-as', RUN_AS, ...AGENT_OFF], { ENROLLMENT_KEY: key, OUTPOST_HEARTBEAT_INTERVAL_MS: '500', OUTPOST_COMMANDS_KILL_GRACE_MS: '500' });
  const d = await startDaemon(cfg, createLogger('silent'));
  t.teardown(() => d.close());
  return d;
}

bothDialects(t, 'results, cancel of a running command, delivery after reconnect', async (t, ctx) => {
  const { call, daemon: adminDaemon } = await startAdminApi(t, ctx, [], { OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  await call('POST', '/api/v1/clusters', { name: 'prod' });
  const key = (await call('POST', '/api/v1/clusters/prod/enrollment_keys', {})).json.data.key;
  const dir = tempDir(t);
  const d = await agent(t, dir, key);
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  const nodeId = d.tunnel!.state!.node_id;
  await until(async () => (await call('GET', `/api/v1/nodes/${nodeId}`)).json.data.status === 'healthy', 10_000, 'node healthy');
  t.ok(adminDaemon.admin!.hub.isConnected(nodeId), 'the hub holds its tunnel');

  const run = async (command_text: string) => {
    const c = await call('POST', '/api/v1/commands', { command_text, targeting: { type: 'nodes', node_ids: [nodeId] } });
    t.equal(c.status, 201);
    return (await call('GET', `/api/v1/command_executions?command_id=${c.json.data.id}`)).json.data[0].id as string;
  };
  const execution = (id: string) => call('GET', `/api/v1/command_executions/${id}`).then((r) => r.json.data);
  const waitStatus = (id: string, status: string, ms = 20_000) => until(async () => { const e = await execution(id); return e.status === status && e; }, ms, `execution ${status}`);

  // Output and exit code through the tunnel.
  const e1 = await run('echo "hello from $(id -un)"\nexit 3');
  const done = await waitStatus(e1, 'completed');
  t.match(done, { exit_code: 3, output: `hello from ${RUN_AS}\n`, node_id: nodeId, command_text: 'echo "hello from $(id -un)"\nexit 3' });
  t.ok(done.sent_at && done.completed_at && done.completed_at >= done.sent_at, 'sent_at and completed_at');

  // Cancel of a sent, running command: the agent stops it and reports cancelled, 143.
  const e2 = await run('echo started\nsleep 30');
  await waitStatus(e2, 'sent', 10_000);
  await until(async () => d.commands.running === 1, 10_000, 'running on the agent');
  const c = await call('PATCH', `/api/v1/command_executions/${e2}/cancel`);
  t.equal(c.status, 200);
  t.same(c.json.data, { result: 'cancellation request sent' });
  t.equal((await execution(e2)).status, 'sent', 'stays sent until the agent reports');
  const cancelled = await waitStatus(e2, 'cancelled');
  t.equal(cancelled.exit_code, 143);
  t.ok(cancelled.cancelled_at, 'cancelled_at');
  t.match(cancelled.output, /started/);
  t.equal((await call('PATCH', `/api/v1/command_executions/${e2}/cancel`)).status, 409, 'terminal now');

  // The agent is down when the command is created: it gets it when it reconnects.
  await d.close();
  await until(async () => (await call('GET', `/api/v1/nodes/${nodeId}`)).json.data.status === 'unreachable', 10_000, 'node unreachable');
  const e3 = await run('echo back');
  t.equal((await execution(e3)).status, 'pending');
  const d2 = await agent(t, dir, key);
  t.equal(d2.tunnel!.state!.node_id, nodeId, 'same node, no second enrollment');
  const back = await waitStatus(e3, 'completed');
  t.match(back, { exit_code: 0, output: 'back\n' });
  const sent = await adminDaemon.admin!.store.db.selectFrom('events').select('data').where('type', '=', 'edge.command_execution.sent').execute();
  t.equal(sent.length, 3, 'one sent event per execution');
}, 90_000);
