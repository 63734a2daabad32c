// End to end, every part a real process: one admin and three agents (separate outpostd
// processes on loopback ports) enrolled with keys; an SSH username created through the API and
// used with the real OpenSSH client through the admin's jump; a command run on a cluster with
// every execution's output and exit code checked (through the API and `outpost run`); a long
// command cancelled (exit 143); an agent SIGKILLed mid-command and its execution's final state
// after it comes back; signed webhook deliveries on a loopback receiver.
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { spawnDaemon, tempDir, type Child } from './helpers/daemon';
import { makeKey, run, ensureRunAsUser, RUN_AS } from './helpers/ssh';
import { freePort } from './helpers/tunnel';
import { until as waitUntil } from './helpers/wait';

const MASTER = 'e2e-master-key-0123456789';
const CLI = path.resolve(__dirname, '..', 'daemon', 'cli', 'outpost.js');

/** Polls through transient errors (processes still starting), every 200 ms, up to 30 s by default. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, { everyMs: 200, tolerateErrors: true });

t.test('a fleet: admin + three agents', async (t) => {
  t.setTimeout(240_000);
  ensureRunAsUser();
  const adminPort = await freePort();
  const jumpPort = await freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await request(`${adminUrl}${p}`, { method: method as 'GET', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
  };

  // A webhook receiver that checks every signature over the raw body.
  const secret = 'e2e-webhook-secret-abcdef-0123456789abcdef';
  const deliveries: Array<{ type: string; valid: boolean; data: any }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const want = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
      const ev = JSON.parse(raw.toString('utf8'));
      deliveries.push({ type: ev.type, valid: req.headers['x-edge-signature'] === want && ev.specversion === '1.0', data: ev.data });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => receiver.close());
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;

  // The admin, with the SSH jump for one operator key.
  const operator = makeKey(t);
  const adminDir = tempDir(t);
  const authorized = path.join(adminDir, 'operators');
  fs.writeFileSync(authorized, operator.pub);
  const admin = await spawnDaemon(t, ['--data-dir', path.join(adminDir, 'data'), '--admin', 'true', '--admin-port', String(adminPort), '--admin-ssh-port', String(jumpPort), '--admin-ssh-authorized-keys', authorized, '--log-level', 'info'],
    { MASTER_KEY: MASTER, WEBHOOK_ALLOW_PRIVATE_IPS: 'true', OUTPOST_ADMIN_SELF_ENROLL: 'false', OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  t.ok(admin.port);

  let r = await api('POST', '/api/v1/webhooks', { url: receiverUrl, secret, subscribed_events: ['edge.node.registered', 'edge.command_execution.completed', 'edge.command_execution.cancelled'] });
  t.equal(r.status, 201, JSON.stringify(r.body));
  r = await api('POST', '/api/v1/clusters', { name: 'prod' });
  t.equal(r.status, 201, JSON.stringify(r.body));
  r = await api('POST', '/api/v1/clusters/prod/enrollment_keys', { uses_remaining: 3, name: 'e2e' });
  t.equal(r.status, 201, JSON.stringify(r.body));
  const key = r.body.data.key as string;

  // Three agents, each its own process and data dir.
  const agentDirs = [tempDir(t), tempDir(t), tempDir(t)];
  const agentArgs = (i: number) => ['--data-dir', agentDirs[i], '--node-name', `web-${i + 1}`, '--ssh-enabled', 'true', '--ssh-port', '0', '--ssh-run-as', RUN_AS, '--log-level', 'info'];
  const agentEnv = { ENROLLMENT_KEY: key, MASTER_KEY: MASTER, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' };
  const agents: Child[] = [];
  for (let i = 0; i < 3; i++) agents.push(await spawnDaemon(t, agentArgs(i), agentEnv));
  const nodes = await until('three healthy nodes', async () => {
    const l = await api('GET', '/api/v1/nodes?cluster_name=prod&page_size=10');
    const d = l.body?.data as any[] | undefined;
    return d && d.length === 3 && d.every((n) => n.status === 'healthy') ? d : undefined;
  });
  const byName = new Map<string, any>(nodes.map((n) => [n.node_name, n]));
  t.same([...byName.keys()].sort(), ['web-1', 'web-2', 'web-3']);
  r = await api('POST', '/api/v1/clusters/prod/enrollment_keys', {});
  const spent = await request(`${adminUrl}/api/v1/agent/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrollment_key: key, node_id: '11111111-2222-4333-8444-555555555555', id_type: 'random' }) });
  t.equal(spent.statusCode, 403, 'the key has no uses left');
  await spent.body.dump();

  // SSH: a username with a key on web-1, used through the jump by node name and by alias.
  const user = makeKey(t);
  r = await api('POST', `/api/v1/nodes/${byName.get('web-1').id}/ssh_usernames`, { username: 'deploy', public_keys: [{ key_name: 'laptop', public_key: user.pub.trim() }] });
  t.equal(r.status, 201, JSON.stringify(r.body));
  r = await api('POST', `/api/v1/nodes/${byName.get('web-1').id}/aliases`, { name: 'frontdoor' });
  t.equal(r.status, 201, JSON.stringify(r.body));
  const sshConfig = path.join(adminDir, 'ssh_config');
  fs.writeFileSync(sshConfig, ['Host jump', '  HostName 127.0.0.1', `  Port ${jumpPort}`, '  User operator', `  IdentityFile ${operator.key}`,
    'Host *', '  IdentitiesOnly yes', '  BatchMode yes', '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  LogLevel ERROR', '  ConnectTimeout 10', `  IdentityFile ${user.key}`].join('\n') + '\n');
  for (const target of ['web-1', 'frontdoor']) {
    const s = await until(`ssh -J to ${target}`, async () => {
      const x = await run(t, 'ssh', ['-F', sshConfig, '-J', 'jump', `deploy@${target}`, 'echo "$(id -un) on $(hostname)"']);
      return x.code === 0 ? x : undefined;
    }, 20_000);
    t.match(s.stdout, new RegExp(`^${RUN_AS} on `), `logged in through the jump to ${target}`);
  }

  // A command on the cluster: every execution's output and exit code.
  r = await api('POST', '/api/v1/commands', { command_text: 'echo "ran on $OUTPOST_COMMAND_EXECUTION_ID"\nexit 3', targeting: { type: 'clusters', cluster_names: ['prod'] } });
  t.equal(r.status, 201, JSON.stringify(r.body));
  const cmdId = r.body.data.id;
  const execs = await until('three completed executions', async () => {
    const l = await api('GET', `/api/v1/command_executions?command_id=${cmdId}`);
    const d = l.body?.data as any[] | undefined;
    return d && d.length === 3 && d.every((e) => e.status === 'completed') ? d : undefined;
  });
  for (const e of execs) {
    t.equal(e.exit_code, 3, `node ${e.node_id}: exit 3`);
    t.match(e.output, new RegExp(`ran on ${e.id}`), 'its own output');
  }
  const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'run', '--quiet', '--cluster', 'prod', '--', 'echo cli-$((20+1))'], { env: { ...process.env, OUTPOST_ADMIN_URL: adminUrl, MASTER_KEY: MASTER }, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }));
  });
  t.equal(cli.code, 0, cli.stderr);
  t.equal(cli.stdout.match(/cli-21/g)?.length, 3, 'outpost run printed every node\'s output');

  // Cancel a long one: exit 143.
  r = await api('POST', '/api/v1/commands', { command_text: 'sleep 60', targeting: { type: 'nodes', node_ids: [byName.get('web-2').id] } });
  const longExec = (await until('the long command to be sent', async () => {
    const l = await api('GET', `/api/v1/command_executions?command_id=${r.body.data.id}`);
    return l.body?.data?.[0]?.status === 'sent' ? l.body.data : undefined;
  }))[0];
  const c = await api('PATCH', `/api/v1/command_executions/${longExec.id}/cancel`);
  t.equal(c.status, 200, JSON.stringify(c.body));
  const cancelled = await until('the cancel to land', async () => {
    const g = await api('GET', `/api/v1/command_executions/${longExec.id}`);
    return g.body?.data?.status === 'cancelled' ? g.body.data : undefined;
  });
  t.equal(cancelled.exit_code, 143);

  // SIGKILL an agent mid-command; after it comes back its execution has a final state.
  r = await api('POST', '/api/v1/commands', { command_text: 'sleep 20; echo finished', targeting: { type: 'nodes', node_ids: [byName.get('web-3').id] } });
  const killedExec = (await until('the command on web-3 to be sent', async () => {
    const l = await api('GET', `/api/v1/command_executions?command_id=${r.body.data.id}`);
    return l.body?.data?.[0]?.status === 'sent' ? l.body.data : undefined;
  }))[0];
  agents[2].proc.kill('SIGKILL');
  await agents[2].exited;
  await until('web-3 unreachable', async () => (await api('GET', `/api/v1/nodes/${byName.get('web-3').id}`)).body?.data?.status === 'unreachable');
  agents[2] = await spawnDaemon(t, agentArgs(2), agentEnv);
  const final = await until('the killed execution to be final', async () => {
    const g = await api('GET', `/api/v1/command_executions/${killedExec.id}`);
    return ['completed', 'cancelled', 'expired'].includes(g.body?.data?.status) ? g.body.data : undefined;
  });
  t.equal(final.status, 'completed');
  t.match(String(final.error), /restart/i, 'reported as cut off by the agent restart');
  await until('web-3 healthy again', async () => (await api('GET', `/api/v1/nodes/${byName.get('web-3').id}`)).body?.data?.status === 'healthy');

  // Webhooks: registrations and command outcomes, every one signed.
  await until('webhook deliveries', async () => deliveries.filter((d) => d.type === 'edge.node.registered').length >= 3 && deliveries.some((d) => d.type === 'edge.command_execution.cancelled'));
  t.ok(deliveries.every((d) => d.valid), 'every delivery carries a valid X-Edge-Signature');
  t.ok(deliveries.filter((d) => d.type === 'edge.command_execution.completed').length >= 6, 'completions delivered');
});

t.test('all-in-one (npm start): the local agent enrolls into its own admin, once', async (t) => {
  t.setTimeout(60_000);
  const adminPort = await freePort();
  const dataDir = tempDir(t);
  const args = ['--data-dir', dataDir, '--admin', 'true', '--admin-port', String(adminPort), '--admin-self-enroll', 'true', '--log-level', 'info'];
  const get = async (p: string) => {
    const r = await request(`http://127.0.0.1:${adminPort}${p}`);
    return (await r.body.json()) as any;
  };
  const first = await spawnDaemon(t, args, { OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const node = await until('a one-node fleet', async () => {
    const l = await get('/api/v1/nodes');
    return l.data?.length === 1 && l.data[0].status === 'healthy' ? l.data[0] : undefined;
  });
  t.equal(node.cluster_name, 'local');
  first.proc.kill('SIGTERM');
  await first.exited;
  await spawnDaemon(t, args, { OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const again = await until('the node back, healthy', async () => {
    const l = await get('/api/v1/nodes');
    return l.data?.[0]?.status === 'healthy' ? l.data : undefined;
  });
  t.equal(again.length, 1, 'no second enrollment after a restart');
  t.equal(again[0].id, node.id);
});
