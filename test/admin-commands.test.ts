// Commands.Command and Commands.CommandExecution over HTTP on SQLite and PostgreSQL (nodes
// enrolled through the store, no agent connected: executions stay pending): targeting variants
// and filters, dedup, 422 details, execution fields, cancel of a pending execution and 409 on a
// terminal one, the expiry sweeper, delete rules and cascade, list filters and ordering.
import t from 'tap';
import { deleteNode } from '../daemon/admin/store/nodes';
import { iso } from '../daemon/admin/store/util';
import { startAdminApi, until } from './helpers/admin-api';
import { bothDialects } from './helpers/postgres';

bothDialects(t, 'create: targeting variants, filters, dedup, validation', async (t, ctx) => {
  const { call, db, enrollNode } = await startAdminApi(t, ctx);
  const a = await enrollNode('prod', { node_name: 'web-1', version: '1.0.0' });
  const b = await enrollNode('prod', { node_name: 'web-2', version: '2.0.0' });
  const c = await enrollNode('staging', { node_name: 'db', version: '1.0.0' });
  t.equal((await call('POST', `/api/v1/nodes/${c}/aliases`, { name: 'db-1' })).status, 201);

  const create = async (targeting: unknown, extra: Record<string, unknown> = {}) => {
    const r = await call('POST', '/api/v1/commands', { command_text: 'uptime', targeting, ...extra });
    t.equal(r.status, 201, `created: ${JSON.stringify(targeting)} ${r.status === 201 ? '' : r.text}`);
    const ex = await call('GET', `/api/v1/command_executions?command_id=${r.json.data.id}&page_size=100`);
    return { cmd: r.json.data, execs: ex.json.data as Array<Record<string, any>>, nodes: (ex.json.data as Array<{ node_id: string }>).map((e) => e.node_id).sort() }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const sorted = (...ids: string[]) => ids.sort();

  const all = await create({ type: 'all' }, { timeout: 30_000, expired_at: '2099-12-31T23:59:59Z' });
  t.same(all.nodes, sorted(a, b, c));
  t.match(all.cmd, { command_text: 'uptime', targeting: { type: 'all' }, timeout: 30_000, expired_at: '2099-12-31T23:59:59.000Z' });
  t.match(all.execs[0], {
    command_id: all.cmd.id, command_text: 'uptime', status: 'pending', target_all: true, cluster_name: null, timeout: 30_000, expired_at: '2099-12-31T23:59:59.000Z',
    exit_code: null, output: null, sent_at: null, completed_at: null, cancelled_at: null,
  });
  t.same(Object.keys(all.execs[0]).sort(), ['cancelled_at', 'cluster_name', 'command_id', 'command_text', 'completed_at', 'error', 'exit_code', 'expired_at', 'id', 'inserted_at', 'node_id', 'output', 'sent_at', 'status', 'target_all', 'timeout', 'updated_at']);

  const byNodes = await create({ type: 'nodes', node_ids: [a, a, 'db-1', 'web-2'] });
  t.same(byNodes.nodes, sorted(a, b, c), 'a node targeted twice (or by id and alias) gets one execution');
  t.same(byNodes.cmd.targeting, { type: 'nodes', node_ids: [a, c, b] }, 'names and aliases resolved to ids, deduplicated');
  t.ok(byNodes.execs.every((e) => e.target_all === false && e.cluster_name === null));

  const one = await create({ type: 'clusters', cluster_names: ['prod', 'prod'] });
  t.same(one.nodes, sorted(a, b));
  t.ok(one.execs.every((e) => e.cluster_name === 'prod'), 'single-cluster targeting sets cluster_name');
  t.same(one.cmd.targeting.cluster_names, ['prod']);
  const two = await create({ type: 'clusters', cluster_names: ['prod', 'staging'] });
  t.same(two.nodes, sorted(a, b, c));
  t.ok(two.execs.every((e) => e.cluster_name === null), 'multi-cluster targeting leaves it null');

  t.same((await create({ type: 'all', node_filters: { version: '1.*' } })).nodes, sorted(a, c), 'wildcard node filter');
  t.same((await create({ type: 'all', cluster_filters: { name: '*rod' } })).nodes, sorted(a, b), 'wildcard cluster filter');
  t.same((await create({ type: 'all', cluster_filters: { name: '*rod' }, node_filters: { version: '2*' } })).nodes, [b], 'node AND cluster filters');
  t.same((await create({ type: 'clusters', cluster_names: ['prod'], node_filters: { node_name: 'web-1' } })).nodes, [a]);
  t.same((await create({ type: 'all', node_filters: { inserted_at__gte: '2000-01-01', status: 'unreachable' } })).nodes, sorted(a, b, c), 'dates and the unreachable alias');
  const none = await create({ type: 'all', node_filters: { status: 'healthy' } });
  t.same(none.execs, [], 'a targeting that matches no node: a command with zero executions');

  const created = await db.selectFrom('events').select('type').where('type', '=', 'edge.command_execution.created').execute();
  t.equal(created.length, 3 + 3 + 2 + 3 + 2 + 2 + 1 + 1 + 3, 'one created event per execution');

  // 422 with the field at fault.
  const bad = async (body: Record<string, unknown>, field: string, msg?: RegExp) => {
    const r = await call('POST', '/api/v1/commands', { command_text: 'x', targeting: { type: 'all' }, ...body });
    t.equal(r.status, 422, `422 for ${JSON.stringify(body)}`);
    t.equal(r.json?.error?.code, 'validation_failed');
    t.ok(r.json?.error?.details?.[field], `details.${field} (${JSON.stringify(r.json?.error?.details)})`);
    if (msg) t.match(r.json.error.details[field][0], msg);
  };
  await bad({ timeout: 0 }, 'timeout');
  await bad({ timeout: 1.5 }, 'timeout');
  await bad({ expired_at: '2001-01-01T00:00:00Z' }, 'expired_at', /future/);
  await bad({ expired_at: 'tomorrow' }, 'expired_at');
  await bad({ command_text: '' }, 'command_text');
  await bad({ command_text: '   ' }, 'command_text', /blank/);
  await bad({ command_text: 'x'.repeat(128 * 1024) }, 'command_text', /bytes/);
  await bad({ targeting: { type: 'nodes' } }, 'targeting.node_ids', /blank/);
  await bad({ targeting: { type: 'nodes', node_ids: [a, 'no-such-node'] } }, 'targeting.node_ids', /no such node: no-such-node/);
  await bad({ targeting: { type: 'clusters', cluster_names: ['nope'] } }, 'targeting.cluster_names', /no such cluster: nope/);
  await bad({ targeting: { type: 'all', node_ids: [a] } }, 'targeting.node_ids', /only allowed/);
  await bad({ targeting: { type: 'everything' } }, 'targeting.type');
  await bad({ targeting: { type: 'all', node_filters: { colour: 'red' } } }, 'targeting.node_filters.colour');
  await bad({ targeting: { type: 'all', node_filters: { inserted_at__gte: 'yesterday!' } } }, 'targeting.node_filters.inserted_at__gte');
  const missing = await call('POST', '/api/v1/commands', { targeting: { type: 'all' } });
  t.equal(missing.status, 422);
  t.ok(missing.json.error.details.command_text, 'missing command_text named');
  t.equal((await call('POST', '/api/v1/commands', { command_text: 'x' })).status, 422, 'targeting is required');
  t.equal((await db.selectFrom('commands').select('id').execute()).length, 10, 'nothing created by refused requests');
});

bothDialects(t, 'cancel, expiry, deletes, lists', async (t, ctx) => {
  const { call, db, enrollNode } = await startAdminApi(t, ctx);
  const a = await enrollNode('prod', { node_name: 'web-1' });
  const c = await enrollNode('staging', { node_name: 'db' });
  const mk = async (body: Record<string, unknown>) => (await call('POST', '/api/v1/commands', { command_text: 'echo hi', targeting: { type: 'all' }, ...body })).json.data;
  const execsOf = async (id: string) => (await call('GET', `/api/v1/command_executions?command_id=${id}&order_by=node_id`)).json.data as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

  // Cancel: pending → cancelled at once; terminal → 409; unknown → 404.
  const cmd = await mk({});
  const [e1, e2] = await execsOf(cmd.id);
  const cancel = await call('PATCH', `/api/v1/command_executions/${e1.id}/cancel`);
  t.equal(cancel.status, 200);
  t.same(cancel.json.data, { result: 'cancelled' });
  const got = (await call('GET', `/api/v1/command_executions/${e1.id}`)).json.data;
  t.match(got, { status: 'cancelled', sent_at: null, exit_code: null });
  t.ok(got.cancelled_at, 'cancelled_at');
  const again = await call('PATCH', `/api/v1/command_executions/${e1.id}/cancel`);
  t.equal(again.status, 409);
  t.equal(again.json.error.code, 'conflict');
  t.equal((await call('PATCH', '/api/v1/command_executions/00000000-0000-4000-8000-000000000000/cancel')).status, 404);
  t.equal((await call('GET', '/api/v1/command_executions/not-a-uuid')).status, 400);
  t.equal((await db.selectFrom('events').select('id').where('type', '=', 'edge.command_execution.cancelled').execute()).length, 1);

  // Deletes: a command with an open execution → 409; an open execution → 409; terminal ones go.
  t.equal((await call('DELETE', `/api/v1/commands/${cmd.id}`)).status, 409, 'e2 is still pending');
  t.equal((await call('DELETE', `/api/v1/command_executions/${e2.id}`)).status, 409);
  t.equal((await call('DELETE', `/api/v1/command_executions/${e1.id}`)).status, 204);
  t.equal((await call('GET', `/api/v1/command_executions/${e1.id}`)).status, 404);
  await call('PATCH', `/api/v1/command_executions/${e2.id}/cancel`);
  t.equal((await call('DELETE', `/api/v1/commands/${cmd.id}`)).status, 204);
  t.equal((await call('GET', `/api/v1/commands/${cmd.id}`)).status, 404);
  t.equal((await call('GET', `/api/v1/command_executions/${e2.id}`)).status, 404, 'executions cascade');
  t.equal((await call('DELETE', `/api/v1/commands/${cmd.id}`)).status, 404);

  // Expiry: the sweeper expires open executions past their deadline.
  const soon = await mk({ expired_at: iso(Date.now() + 1200) });
  const expired = await until(async () => { const xs = await execsOf(soon.id); return xs.every((x) => x.status === 'expired') && xs; }, 8000, 'expiry');
  t.equal(expired.length, 2);
  t.equal(expired[0].expired_at, soon.expired_at);
  t.equal((await call('PATCH', `/api/v1/command_executions/${expired[0].id}/cancel`)).status, 409, 'expired is terminal');
  t.equal((await db.selectFrom('events').select('id').where('type', '=', 'edge.command_execution.expired').execute()).length, 2);

  // Lists: results written as an agent would, then filters and ordering.
  const done = await mk({ command_text: 'docker ps', timeout: 5000, targeting: { type: 'clusters', cluster_names: ['prod'] } });
  const [d1] = await execsOf(done.id);
  const other = await mk({ command_text: 'ls -la' });
  const [o1, o2] = await execsOf(other.id);
  const t0 = Date.now();
  await db.updateTable('command_executions').set({ status: 'completed', exit_code: 0, output: 'all good\n', sent_at: iso(t0), completed_at: iso(t0 + 1000) }).where('id', '=', d1.id).execute();
  await db.updateTable('command_executions').set({ status: 'completed', exit_code: 2, output: 'step failed: disk\n', sent_at: iso(t0), completed_at: iso(t0 + 3000) }).where('id', '=', o1.id).execute();
  await db.updateTable('command_executions').set({ status: 'completed', exit_code: 1, output: '', sent_at: iso(t0), completed_at: iso(t0 + 2000) }).where('id', '=', o2.id).execute();
  const list = async (q: string) => {
    const r = await call('GET', `/api/v1/command_executions?${q}`);
    t.equal(r.status, 200, q);
    return (r.json.data as Array<{ id: string }>).map((x) => x.id);
  };
  t.same(await list('status=completed&order_by=completed_at&order_directions=desc'), [o1.id, o2.id, d1.id]);
  t.same(await list('status=completed&order_by=exit_code'), [d1.id, o2.id, o1.id]);
  t.same(await list('exit_code__gte=1&order_by=exit_code&order_directions=desc'), [o1.id, o2.id]);
  t.same(await list('exit_code=0'), [d1.id]);
  t.same(await list('output=*failed*'), [o1.id]);
  t.same(await list('has_output=true&status=completed&order_by=completed_at'), [d1.id, o1.id]);
  t.same(await list('has_output=false&status=completed'), [o2.id]);
  t.same(await list('has_cluster=true'), [d1.id]);
  t.same(await list(`node_id=${c}&command_id=${other.id}`), [[o1, o2].find((x) => x.node_id === c)!.id]);
  t.same((await list('cluster_name=stag*&status=completed')).length, 1, 'cluster via the node');
  t.same(await list('target_all=false'), [d1.id]);
  t.same(await list(`completed_at__gte=${encodeURIComponent(iso(t0 + 1500))}&order_by=completed_at`), [o2.id, o1.id]);
  t.same((await list('status=expired')).length, 2);
  const page = await call('GET', '/api/v1/command_executions?page_size=2&page=2&order_by=inserted_at');
  t.match(page.json.meta.pagination, { page: 2, page_size: 2, total_count: 5, total_pages: 3, has_next: true, has_prev: true });
  t.equal((await call('GET', '/api/v1/command_executions?status=running')).status, 400, 'unknown status value');
  t.equal((await call('GET', '/api/v1/command_executions?order_by=output')).status, 400, 'not sortable');

  // Commands list.
  const cmds = async (q: string) => ((await call('GET', `/api/v1/commands?${q}`)).json.data as Array<{ id: string }>).map((x) => x.id);
  t.same(await cmds('command_text=docker*'), [done.id]);
  t.same(await cmds('has_timeout=true'), [done.id]);
  t.same(await cmds('timeout__gte=5000&timeout__lte=5000'), [done.id]);
  t.same(await cmds('has_expired_at=true'), [soon.id]);
  t.same(await cmds('order_by=command_text'), [done.id, soon.id, other.id]);
  t.same(await cmds(''), [other.id, done.id, soon.id], 'newest first by default');

  // A deleted node keeps its executions, with node_id null.
  await deleteNode(db, a);
  t.equal((await call('GET', `/api/v1/command_executions/${d1.id}`)).json.data.node_id, null);
});
