// A real daemon with ENROLLMENT_KEY enrolls into a test admin by itself and runs delivered
// commands on its real command runner (bash in a PTY as the run-as account): output and exit
// code come back through the tunnel, a cancel ends a running command with 143, and a command
// the agent's shutdown interrupted is reported after the agent starts again.
import t, { type Test } from 'tap';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { MemoryTunnelBackend } from './helpers/memory-tunnel-backend';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { ensureRunAs, RUN_AS } from './helpers/commands';
import { log, newKey, startAdmin } from './helpers/tunnel';
import { until } from './helpers/wait';

ensureRunAs();

async function daemon(t: Test, dataDir: string, blob: string) {
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', '--ssh-run-as', RUN_AS, ...AGENT_OFF], { ENROLLMENT_KEY: blob, OUTPOST_HEARTBEAT_INTERVAL_MS: '200', OUTPOST_COMMANDS_KILL_GRACE_MS: '500' });
  const d = await startDaemon(cfg, log);
  t.teardown(() => d.close());
  return d;
}

t.test('deliveries run on the command runner; results, cancel and restart come back through the tunnel', async (t) => {
  t.setTimeout(60_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dir = tempDir(t);
  const { blob } = newKey(b, admin.url);
  const d = await daemon(t, dir, blob);
  t.ok(d.tunnel, 'ENROLLMENT_KEY starts the tunnel');
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  const nodeId = d.tunnel!.state!.node_id;
  t.equal(b.nodes.get(nodeId)!.status, 'healthy');

  const ex = b.addExecution(nodeId, 'echo "hello from $(id -un)"\nexit 3', 10_000);
  t.ok(admin.hub.deliverCommand(nodeId, ex.deliver));
  await b.waitFor(() => ex.status === 'completed', 20_000, 'result');
  t.match(ex.result, { status: 'completed', exit_code: 3, output: `hello from ${RUN_AS}\n`, error: null, output_truncated: false });
  t.ok(ex.result!.started_at! > 0 && ex.result!.completed_at! >= ex.result!.started_at!, 'times');
  await b.waitFor(() => d.tunnel!.store.pending === 0, 5000, 'acked');
  t.equal(d.commands.list(undefined, 1, 100).total, 0, 'the local record is released once the outcome is queued');

  // Cancel a running command: the runner's SIGTERM, reported as cancelled with 143.
  const long = b.addExecution(nodeId, 'echo started\nsleep 30');
  admin.hub.deliverCommand(nodeId, long.deliver);
  await b.waitFor(() => long.status === 'sent', 10_000, 'sent');
  await until('the command to run', () => d.commands.running === 1);
  long.cancel_requested = true;
  admin.hub.cancelCommand(nodeId, long.id);
  await b.waitFor(() => long.status === 'cancelled', 20_000, 'cancelled');
  t.equal(long.result!.exit_code, 143);
  t.ok(long.result!.cancelled_at! > 0);

  // The agent shuts down mid-command: the outcome is reported after it starts again.
  const cut = b.addExecution(nodeId, 'echo cut-started\nsleep 30');
  admin.hub.deliverCommand(nodeId, cut.deliver);
  await b.waitFor(() => cut.status === 'sent', 10_000, 'sent');
  // Running means its process printed (counting as active starts before the spawn completes).
  await until('the command to run', () => d.commands.list(undefined, 1, 100).items.some((e) => (e.output ?? '').includes('cut-started')));
  await d.close();
  t.equal(cut.result, null, 'nothing reported while the agent was down');
  const d2 = await daemon(t, dir, blob);
  await b.waitFor(() => cut.result !== null, 20_000, 'result after the restart');
  t.match(cut.result, { status: 'completed', exit_code: 143, error: /shut down while the command was running/ });
  t.equal(d2.tunnel!.state!.node_id, nodeId, 'same node, no second enrollment');
});

t.test('a malformed ENROLLMENT_KEY stops the daemon at start with the reason', async (t) => {
  t.setTimeout(20_000);
  const cfg = loadConfig(['--data-dir', tempDir(t), '--api-port', '0', '--log-level', 'silent', ...AGENT_OFF], { ENROLLMENT_KEY: 'not a key' });
  await t.rejects(startDaemon(cfg, log), { code: 'ENROLLMENT_KEY_INVALID', message: /ENROLLMENT_KEY is not a valid enrollment key: it is not base64/ });
});
