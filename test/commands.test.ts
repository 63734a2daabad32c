// The command runner through its local API: real bash in a real PTY as the run-as account;
// output and exit codes, truncation, timeout and cancel killing the whole process group,
// expiry, the concurrency limit, acknowledgement, validation and scopes.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startInProc, tempDir } from './helpers/daemon';
import { api, ensureRunAs, MASTER, run, RUN_AS, running, shareDir, terminal, waitFor } from './helpers/commands';

ensureRunAs();
const ENV = { MASTER_KEY: MASTER };
const ARGS = ['--ssh-run-as', RUN_AS];

t.test('a multi-line script: combined output, exit code, times, run-as account', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, ARGS, ENV);
  const created = await run(url, { command_text: 'GREETING=hello\necho "$GREETING world"\nid -un\necho "to stderr" >&2\necho "home=$HOME pwd=$PWD"\nexit 0' });
  t.equal(created.status, 'pending');
  t.equal(created.node_id, daemon.dataPlane.nodeId);
  t.match(created, { exit_code: null, output: null, sent_at: null, completed_at: null, timeout: null, expired_at: null, target_all: false });
  const e = await waitFor(url, created.id, terminal);
  t.equal(e.status, 'completed');
  t.equal(e.exit_code, 0);
  t.equal(e.error, null);
  t.equal(e.output, `hello world\n${RUN_AS}\nto stderr\nhome=/home/${RUN_AS} pwd=/home/${RUN_AS}\n`, 'stdout and stderr, in order, LF line ends');
  t.ok(e.sent_at && e.completed_at && Date.parse(e.completed_at) >= Date.parse(e.sent_at), 'start and end times');
  t.equal(e.output_truncated, false);

  const bad = await waitFor(url, (await run(url, { command_text: 'echo partial\nfalse\nexit 7' })).id, terminal);
  t.equal(bad.exit_code, 7, 'non-zero exit status');
  t.equal(bad.output, 'partial\n');
  const sig = await waitFor(url, (await run(url, { command_text: 'kill -KILL $$' })).id, terminal);
  t.equal(sig.exit_code, 137, 'killed by a signal: 128 + signal');
  const stdin = await waitFor(url, (await run(url, { command_text: 'read -r line; echo "read=$?"' })).id, terminal);
  t.equal(stdin.output, 'read=1\n', 'stdin reports end-of-file instead of waiting forever');
});

t.test('output past the cap keeps the head and the tail and says how much was dropped', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ARGS, { ...ENV, OUTPOST_COMMANDS_OUTPUT_CAP_BYTES: '1024' });
  // 6 + 5000 + 1 + 4 = 5011 bytes; 512 kept at each end.
  const e = await waitFor(url, (await run(url, { command_text: "echo BEGIN\nhead -c 5000 /dev/zero | tr '\\0' x\necho\necho END" })).id, terminal);
  t.equal(e.exit_code, 0);
  t.equal(e.output_truncated, true);
  t.equal(e.output_dropped_bytes, 5011 - 1024);
  t.ok(e.output.startsWith('BEGIN\n' + 'x'.repeat(506)), 'head kept');
  t.ok(e.output.endsWith('x'.repeat(507) + '\nEND\n'), 'tail kept');
  t.match(e.output, /\[outpost: output truncated, 3987 bytes dropped\]/);
  t.equal(Buffer.byteLength(e.output.replace(/\n\[outpost: output truncated, \d+ bytes dropped\]\n/, '')), 1024);
});

t.test('timeout: SIGTERM to the whole process group, exit code 143; SIGKILL after the grace period', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ARGS, { ...ENV, OUTPOST_COMMANDS_KILL_GRACE_MS: '500' });
  const e = await waitFor(url, (await run(url, { command_text: 'sleep 300 &\necho "child=$!"\nsleep 300\necho never', timeout: 800 })).id, terminal);
  t.equal(e.status, 'completed');
  t.equal(e.exit_code, 143);
  t.match(e.error, /timed out after 800 ms/);
  const child = Number(/child=(\d+)/.exec(e.output)![1]);
  t.notOk(running(child), 'the background child was killed with the shell');
  t.notMatch(e.output, /never/);

  // The script and its child ignore SIGTERM: the SIGKILL after the grace period ends them.
  const stubborn = await waitFor(url, (await run(url, { command_text: "trap '' TERM\nsleep 300 &\necho \"child=$!\"\nwait", timeout: 500 })).id, terminal);
  t.equal(stubborn.exit_code, 143);
  const child2 = Number(/child=(\d+)/.exec(stubborn.output)![1]);
  t.notOk(running(child2), 'a child that ignores SIGTERM is SIGKILLed');
});

t.test('cancel: pending at once, running with SIGTERM (143), terminal is 409', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ARGS, { ...ENV, OUTPOST_COMMANDS_MAX_CONCURRENT: '1' });
  const a = await run(url, { command_text: 'sleep 300 &\necho "child=$!"\nwait' });
  const b = await run(url, { command_text: 'echo should-not-run' });
  await waitFor(url, a.id, (e) => e.status === 'sent' && /child=\d+/.test(e.output ?? ''));
  t.equal((await api(url, 'GET', `/api/v1/agent/command_executions/${b.id}`)).body.data.status, 'pending', 'B waits behind A');

  const cb = await api(url, 'PATCH', `/api/v1/agent/command_executions/${b.id}/cancel`);
  t.equal(cb.status, 200);
  t.equal(cb.body.data.result, 'cancelled');
  t.match(cb.body.data.execution, { status: 'cancelled', exit_code: null, sent_at: null, output: null });
  t.ok(cb.body.data.execution.cancelled_at);

  const ca = await api(url, 'PATCH', `/api/v1/agent/command_executions/${a.id}/cancel`);
  t.equal(ca.status, 200);
  t.equal(ca.body.data.result, 'cancellation request sent');
  const ea = await waitFor(url, a.id, terminal);
  t.match(ea, { status: 'cancelled', exit_code: 143 });
  t.ok(ea.cancelled_at);
  t.notOk(running(Number(/child=(\d+)/.exec(ea.output)![1])), 'the cancelled command\'s child is gone');

  const again = await api(url, 'PATCH', `/api/v1/agent/command_executions/${a.id}/cancel`);
  t.equal(again.status, 409);
  t.equal(again.body.error, 'conflict');
  t.equal((await api(url, 'PATCH', '/api/v1/agent/command_executions/00000000-0000-4000-8000-000000000000/cancel')).status, 404);
  const eb = (await api(url, 'GET', `/api/v1/agent/command_executions/${b.id}`)).body.data;
  t.match(eb, { status: 'cancelled', output: null, sent_at: null }, 'the cancelled pending command never ran');
});

t.test('max_concurrent 1: the second command waits for the first (FIFO)', async (t) => {
  t.setTimeout(30_000);
  const dir = shareDir(tempDir(t));
  const flag = path.join(dir, 'go');
  const { url } = await startInProc(t, ARGS, { ...ENV, OUTPOST_COMMANDS_MAX_CONCURRENT: '1' });
  const a = await run(url, { command_text: `while [ ! -e ${flag} ]; do sleep 0.05; done\necho A` });
  const b = await run(url, { command_text: 'echo B' });
  const c = await run(url, { command_text: 'echo C' });
  await waitFor(url, a.id, (e) => e.status === 'sent');
  const list = await api(url, 'GET', '/api/v1/agent/command_executions?status=pending');
  t.same(list.body.data.map((e: any) => e.id), [c.id, b.id], 'B and C wait while A runs (newest first)');
  fs.writeFileSync(flag, '');
  const ea = await waitFor(url, a.id, terminal);
  const eb = await waitFor(url, b.id, terminal);
  const ec = await waitFor(url, c.id, terminal);
  t.equal(ea.output, 'A\n');
  t.equal(eb.output, 'B\n');
  t.ok(Date.parse(eb.sent_at) >= Date.parse(ea.completed_at), 'B started after A ended');
  t.ok(Date.parse(ec.sent_at) >= Date.parse(eb.completed_at), 'C started after B ended');
});

t.test('expired_at: a command still waiting when it passes is expired and never runs', async (t) => {
  t.setTimeout(30_000);
  const dir = shareDir(tempDir(t));
  const flag = path.join(dir, 'go');
  const { url } = await startInProc(t, ARGS, { ...ENV, OUTPOST_COMMANDS_MAX_CONCURRENT: '1' });
  const a = await run(url, { command_text: `while [ ! -e ${flag} ]; do sleep 0.05; done` });
  const deadline = new Date(Date.now() + 1000).toISOString();
  const b = await run(url, { command_text: `touch ${path.join(dir, 'ran')}`, expired_at: deadline });
  t.equal(b.expired_at, deadline);
  const eb = await waitFor(url, b.id, terminal);
  t.match(eb, { status: 'expired', exit_code: null, sent_at: null, output: null });
  t.equal((await api(url, 'PATCH', `/api/v1/agent/command_executions/${b.id}/cancel`)).status, 409, 'expired is terminal');
  fs.writeFileSync(flag, '');
  await waitFor(url, a.id, terminal);
  t.notOk(fs.existsSync(path.join(dir, 'ran')), 'the expired command never ran');
  const later = await waitFor(url, (await run(url, { command_text: 'echo in-time', expired_at: new Date(Date.now() + 60_000).toISOString() })).id, terminal);
  t.match(later, { status: 'completed', output: 'in-time\n' }, 'a command that starts before its expired_at runs');
});

t.test('acknowledging a result releases it; stats in the reference shape', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, ARGS, ENV);
  const long = await run(url, { command_text: 'sleep 300' });
  await waitFor(url, long.id, (e) => e.status === 'sent');
  const busy = await api(url, 'DELETE', `/api/v1/agent/command_executions/${long.id}`);
  t.equal(busy.status, 409, 'a running execution cannot be deleted');
  const done = await waitFor(url, (await run(url, { command_text: 'echo ok' })).id, terminal);
  const del = await api(url, 'DELETE', `/api/v1/agent/command_executions/${done.id}`);
  t.equal(del.status, 204);
  t.equal((await api(url, 'GET', `/api/v1/agent/command_executions/${done.id}`)).status, 404, 'gone once acknowledged');
  t.equal((await api(url, 'DELETE', `/api/v1/agent/command_executions/${done.id}`)).status, 404);
  await api(url, 'PATCH', `/api/v1/agent/command_executions/${long.id}/cancel`);
  await waitFor(url, long.id, terminal);
  const s = daemon.commands.stats();
  t.same(Object.keys(s).sort(), ['completed_total', 'enqueued_total', 'reported_total', 'synced_total']);
  t.match(s, { enqueued_total: 2, completed_total: 2, reported_total: 1 });
  t.ok(s.synced_total > 0);
});

t.test('list: newest first, status filter, pagination', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ARGS, ENV);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await run(url, { command_text: `exit ${i}` })).id);
  for (const id of ids) await waitFor(url, id, terminal);
  const p1 = await api(url, 'GET', '/api/v1/agent/command_executions?page_size=2');
  t.same(p1.body.data.map((e: any) => e.id), [ids[4], ids[3]]);
  t.match(p1.body.meta.pagination, { page: 1, page_size: 2, total_count: 5, total_pages: 3, has_next: true, has_prev: false, next_page: 2, prev_page: null });
  const p3 = await api(url, 'GET', '/api/v1/agent/command_executions?page_size=2&page=3');
  t.same(p3.body.data.map((e: any) => e.id), [ids[0]]);
  t.match(p3.body.meta.pagination, { has_next: false, next_page: null, prev_page: 2 });
  t.equal((await api(url, 'GET', '/api/v1/agent/command_executions?status=pending')).body.data.length, 0);
  t.equal((await api(url, 'GET', '/api/v1/agent/command_executions?status=completed')).body.meta.pagination.total_count, 5);
  const badStatus = await api(url, 'GET', '/api/v1/agent/command_executions?status=failed');
  t.equal(badStatus.status, 400);
  t.match(badStatus.body.message, /query\.status/);
});

t.test('bad input is 400 naming the field; MASTER_KEY only', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ARGS, { ...ENV, API_KEY: 'data-key' });
  const cases: Array<[unknown, string]> = [
    [{}, 'body.command_text'],
    [{ command_text: '' }, 'body.command_text'],
    [{ command_text: ' \n ' }, 'body.command_text'],
    [{ command_text: 'x'.repeat(128 * 1024) }, 'body.command_text'],
    [{ command_text: 'true', timeout: 0 }, 'body.timeout'],
    [{ command_text: 'true', timeout: 1.5 }, 'body.timeout'],
    [{ command_text: 'true', timeout: 8 * 24 * 3600 * 1000 }, 'body.timeout'],
    [{ command_text: 'true', expired_at: 'tomorrow' }, 'body.expired_at'],
    [{ command_text: 'true', expired_at: '2001-01-01T00:00:00Z' }, 'body.expired_at'],
    [{ command_text: 'true', command_id: 'nope' }, 'body.command_id'],
    [{ command_text: 'true', targeting: {} }, 'body.targeting'],
  ];
  for (const [body, field] of cases) {
    const r = await api(url, 'POST', '/api/v1/agent/commands', body);
    t.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    t.ok(r.body.details.fields.some((f: any) => f.field === field), `names ${field}: ${r.body.message}`);
  }
  t.equal((await api(url, 'POST', '/api/v1/agent/commands', { command_text: 'true' }, 'data-key')).status, 403, 'API_KEY is not enough');
  t.equal((await api(url, 'GET', '/api/v1/agent/command_executions', undefined, 'data-key')).status, 403);
  t.equal((await api(url, 'GET', '/api/v1/agent/command_executions', undefined, 'wrong')).status, 401);
  t.equal((await api(url, 'GET', '/api/v1/agent/command_executions/nope')).status, 404);
  const ok = await run(url, { command_text: 'true', timeout: null, expired_at: null, command_id: 'ABCDEF01-2345-4789-abcd-ef0123456789' });
  t.equal(ok.command_id, 'abcdef01-2345-4789-abcd-ef0123456789', 'the control plane\'s command id is kept');
});

t.test('a missing run-as account fails the execution clearly and runs nothing', async (t) => {
  t.setTimeout(30_000);
  const dir = shareDir(tempDir(t));
  const { url } = await startInProc(t, ['--ssh-run-as', 'no-such-account-xyz'], ENV);
  const e = await waitFor(url, (await run(url, { command_text: `touch ${path.join(dir, 'ran')}` })).id, terminal);
  t.match(e, { status: 'completed', exit_code: null, output: null });
  t.match(e.error, /no-such-account-xyz.*does not exist/);
  t.notOk(fs.existsSync(path.join(dir, 'ran')), 'nothing ran, as root or anyone');
});
