// The list-query library on SQLite and PostgreSQL: pagination meta, wildcard/substring/exact
// filters with LIKE escaping, integer and date ranges (date-only bounds), booleans, ordering
// with an allow-list and an id tie-break, and the 400s that name the parameter.
import t from 'tap';
import { sql } from 'kysely';
import { filterDate, likePattern, listQuerySchema, pagination, runList, type ListSpec } from '../daemon/admin/api/list';
import { compile } from '../daemon/http/validate';
import type { Db } from '../daemon/admin/store/db';
import { newId } from '../daemon/admin/store/util';
import { bothDialects } from './helpers/postgres';

const spec: ListSpec = {
  filters: {
    name: { kind: 'text', expr: 'clusters.name', description: 'name' },
    ipv4_range: { kind: 'contains', expr: 'clusters.ipv4_range', description: 'range' },
    id: { kind: 'exact', expr: 'clusters.id', description: 'id' },
    node_limit: { kind: 'int', expr: 'clusters.node_limit', ops: ['eq', 'gte', 'lte'], description: 'limit' },
    inserted_at: { kind: 'date', expr: 'clusters.inserted_at' },
    has_node_limit: { kind: 'bool', where: (v) => (v ? sql`clusters.node_limit is not null` : sql`clusters.node_limit is null`), description: 'has limit' },
  },
  sort: { name: 'clusters.name', node_limit: 'clusters.node_limit', inserted_at: 'clusters.inserted_at', id: 'clusters.id' },
  defaultSort: [['name', 'asc']],
  id: 'clusters.id',
};
const validate = compile('query', listQuerySchema(spec));

async function seed(db: Db) {
  const rows = [
    ['prod-east', 10, '2025-01-01T00:00:00.000Z'], ['prod-west', 20, '2025-01-01T23:59:59.999Z'], ['staging', null, '2025-01-02T00:00:00.000Z'],
    ['dev_1', 5, '2025-01-03T12:00:00.000Z'], ['devx1', 5, '2025-01-03T12:00:00.000Z'], ['100%', null, '2025-01-04T00:00:00.000Z'],
  ] as const;
  let i = 0;
  for (const [name, limit, at] of rows) {
    await db.insertInto('clusters').values({ id: newId(), name, ipv4_range: `100.64.${i++}.0/24`, node_limit: limit, inserted_at: at, updated_at: at }).execute();
  }
}

async function list(db: Db, qs: string) {
  const query: Record<string, unknown> = Object.fromEntries(new URLSearchParams(qs));
  validate(query);
  const r = await runList<{ name: string }>(db.selectFrom('clusters'), (q) => q.select(['clusters.name', 'clusters.id']), spec, query);
  return { names: r.rows.map((x) => x.name), p: r.pagination };
}

t.test('pagination meta as the reference schema', async (t) => {
  t.same(pagination(1, 20, 150), { page: 1, page_size: 20, total_count: 150, total_pages: 8, has_next: true, has_prev: false, next_page: 2, prev_page: null });
  t.same(pagination(8, 20, 150), { page: 8, page_size: 20, total_count: 150, total_pages: 8, has_next: false, has_prev: true, next_page: null, prev_page: 7 });
  t.same(pagination(1, 20, 0), { page: 1, page_size: 20, total_count: 0, total_pages: 0, has_next: false, has_prev: false, next_page: null, prev_page: null });
});

t.test('date-only bounds: start of the UTC day for __gte, end for __lte; offsets honoured', async (t) => {
  t.equal(filterDate('2025-01-01', 'gte', 'f'), '2025-01-01T00:00:00.000Z');
  t.equal(filterDate('2025-01-01', 'lte', 'f'), '2025-01-01T23:59:59.999Z');
  t.equal(filterDate('2025-01-01T10:00:00+02:00', 'gte', 'f'), '2025-01-01T08:00:00.000Z');
  t.equal(filterDate('2025-01-01T10:00:00', 'lte', 'f'), '2025-01-01T10:00:00.000Z', 'no offset: UTC');
  for (const bad of ['2025-02-30', 'yesterday', '2025-1-1', '2025-01-01T25:00:00Z']) t.throws(() => filterDate(bad, 'gte', 'query.x__gte'), { code: 'bad_request' }, bad);
  t.equal(likePattern('a_b%c\\d*'), 'a\\_b\\%c\\\\d%');
});

bothDialects(t, 'filters, ordering, pages', async (t, ctx) => {
  const { db } = await ctx.open();
  await seed(db);
  let r = await list(db, '');
  t.same(r.names, ['100%', 'dev_1', 'devx1', 'prod-east', 'prod-west', 'staging'], 'default order: name asc');
  t.same(r.p, { page: 1, page_size: 20, total_count: 6, total_pages: 1, has_next: false, has_prev: false, next_page: null, prev_page: null });

  t.same((await list(db, 'name=prod-east')).names, ['prod-east'], 'exact');
  t.same((await list(db, 'name=prod')).names, [], 'exact means exact');
  t.same((await list(db, 'name=prod*')).names, ['prod-east', 'prod-west'], 'prefix');
  t.same((await list(db, 'name=*west')).names, ['prod-west'], 'suffix');
  t.same((await list(db, 'name=*OD*')).names, ['prod-east', 'prod-west'], 'wildcards are case-insensitive');
  t.same((await list(db, 'name=dev_*')).names, ['dev_1'], '_ is literal, not a one-character wildcard');
  t.same((await list(db, 'name=100%25*')).names, ['100%'], '% is literal');
  t.same((await list(db, 'ipv4_range=64.3')).names, ['dev_1'], 'contains: substring without stars');
  t.same((await list(db, 'node_limit=5')).names, ['dev_1', 'devx1']);
  t.same((await list(db, 'node_limit__gte=10&node_limit__lte=20')).names, ['prod-east', 'prod-west']);
  t.same((await list(db, 'has_node_limit=false')).names, ['100%', 'staging']);
  t.same((await list(db, 'has_node_limit=true&name=prod*')).names, ['prod-east', 'prod-west'], 'filters AND');
  t.same((await list(db, 'inserted_at__lte=2025-01-01')).names, ['prod-east', 'prod-west'], 'a bare date as __lte includes its whole day');
  t.same((await list(db, 'inserted_at__gte=2025-01-02&inserted_at__lte=2025-01-03')).names, ['dev_1', 'devx1', 'staging']);
  t.same((await list(db, 'inserted_at__gte=2025-01-01T23:59:59.999Z&inserted_at__lte=2025-01-02T00:00:00Z')).names, ['prod-west', 'staging'], 'datetimes are exact bounds');

  t.same((await list(db, 'order_by=node_limit&order_directions=desc')).names.slice(0, 2).sort(), ['100%', 'staging'], 'NULLs first when descending');
  const byLimit = (await list(db, 'order_by=node_limit')).names;
  t.same(byLimit.slice(0, 4).sort(), ['dev_1', 'devx1', 'prod-east', 'prod-west'].sort());
  t.same(byLimit.slice(4).sort(), ['100%', 'staging'], 'NULLs last when ascending');
  t.same((await list(db, 'order_by=node_limit,name&order_directions=asc,desc')).names.slice(0, 2), ['devx1', 'dev_1'], 'second key');
  // Ties on inserted_at are broken by id: the same order every time.
  const a = (await list(db, 'order_by=inserted_at')).names;
  const b = (await list(db, 'order_by=inserted_at')).names;
  t.same(a, b);

  r = await list(db, 'page=2&page_size=4');
  t.same(r.names, ['prod-west', 'staging']);
  t.same(r.p, { page: 2, page_size: 4, total_count: 6, total_pages: 2, has_next: false, has_prev: true, next_page: null, prev_page: 1 });
  r = await list(db, 'page=9&page_size=4');
  t.same(r.names, [], 'past the end: empty page');
  t.equal(r.p.total_count, 6);

  const err = async (qs: string) => { try { await list(db, qs); return undefined; } catch (e) { return e as { code: string; details: { fields: Array<{ field: string }> } }; } };
  for (const [qs, field] of [['order_by=secret', 'query.order_by'], ['order_by=name&order_directions=up', 'query.order_directions'], ['order_by=name&order_directions=asc,desc', 'query.order_directions'], ['inserted_at__gte=soon', 'query.inserted_at__gte'], ['page_size=101', 'query.page_size'], ['page=0', 'query.page'], ['bogus=1', 'query.bogus'], ['node_limit=x', 'query.node_limit']] as const) {
    const e = await err(qs);
    t.equal(e?.code, 'bad_request', `${qs} → 400`);
    t.equal(e?.details.fields[0].field, field, `${qs} names ${field}`);
  }
});
