// Streaming aggregation and rollups: every stage function, with and without rollup buckets,
// equals both the in-memory reference evaluator (floql.ts evaluate) and values computed here;
// late points recompute their bucket; rollups outlive raw retention.
import path from 'node:path';
import t, { type Test } from 'tap';
import { TsStore } from '../core/ts';
import { evaluate, parseFloQL, STAGE_FNS, type Series } from '../core/ts/floql';
import type { Point } from '../core/ts/line-protocol';
import { startInProc, tempDir } from './helpers/daemon';
import { request } from 'undici';

const HOUR = 3_600_000;
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

function sameSeries(t: Test, got: Array<{ tags: Record<string, string>; points: Array<{ timestamp: number; value: number }> }>, want: Series[], what: string): void {
  t.equal(got.length, want.length, `${what}: series count`);
  let bad = 0;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    if (JSON.stringify(got[i].tags) !== JSON.stringify(want[i].tags)) bad++;
    if (got[i].points.length !== want[i].points.length) { bad++; continue; }
    for (let j = 0; j < want[i].points.length; j++) {
      if (got[i].points[j].timestamp !== want[i].points[j].timestamp || !close(got[i].points[j].value, want[i].points[j].value)) bad++;
    }
  }
  t.equal(bad, 0, `${what}: every point matches`);
}

// Three series over six hours, one point every 7 s with pseudo-random values; ties on purpose
// (two series share timestamps) so first/last ordering is exercised in groups.
function dataset(now: number): { points: Point[]; series: Series[] } {
  const points: Point[] = [];
  const series: Series[] = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const [host, dc] of [['a', 'eu'], ['b', 'eu'], ['c', 'us']]) {
    const s: Series = { tags: { dc, host }, points: [] };
    for (let ts = now - 6 * HOUR; ts <= now; ts += 7000) {
      const v = Math.round(rnd() * 1e6) / 100;
      points.push({ measurement: 'm', tags: { dc, host }, fields: { value: v }, fieldTypes: { value: 'float' }, timestamp: ts });
      s.points.push({ timestamp: ts, value: v });
    }
    series.push(s);
  }
  return { points, series };
}

t.test('streaming folds and rollup buckets equal the reference evaluator', async (t) => {
  const dir = tempDir(t);
  const store = new TsStore(path.join(dir, 'ts.mdb'));
  t.teardown(() => store.close());
  const now = Math.floor(Date.now() / 1000) * 1000 + 123; // not bucket-aligned
  const { points, series } = dataset(now);
  await store.write('ns', points);
  const read = await store.rollupAll(now);
  const sealed = (res: number) => points.filter((p) => p.timestamp < Math.floor((now - 60_000) / res) * res).length;
  t.equal(read, sealed(60_000) + sealed(HOUR), 'each resolution folded every sealed point once');
  t.equal(await store.rollupAll(now), 0, 'a second pass has nothing to do');

  for (const fn of STAGE_FNS) {
    for (const q of [`m[3h] | ${fn}(5m)`, `m[5h] | ${fn}(1h) by (dc)`, `m{host!=c} | ${fn}(2h)`, `m[90m] | ${fn}(30s)`, `m[4h] | ${fn}(1h) | max(2h)`]) {
      const parsed = parseFloQL(q);
      const want = evaluate(parsed, series, now);
      const withRollups = store.query('ns', parsed, now);
      const raw = store.query('ns', parsed, now, { rollups: false });
      if (!('series' in withRollups) || !('series' in raw)) { t.fail(`${q}: error`); continue; }
      sameSeries(t, withRollups.series, want, `${q} (rollups)`);
      sameSeries(t, raw.series, want, `${q} (raw)`);
    }
  }

  // A value computed here, not by any evaluator: avg over 1h windows of host a.
  const q = parseFloQL('m{host=a}[6h] | avg(1h)');
  const r = store.query('ns', q, now) as { series: Series[] };
  const buckets = new Map<number, number[]>();
  for (const p of series[0].points) if (p.timestamp > now - 6 * HOUR) {
    const w = Math.floor(p.timestamp / HOUR) * HOUR;
    buckets.set(w, [...(buckets.get(w) ?? []), p.value]);
  }
  const mine = [...buckets.entries()].sort((x, y) => x[0] - y[0]).map(([w, vs]) => ({ timestamp: w, value: vs.reduce((a, b) => a + b, 0) / vs.length }));
  sameSeries(t, r.series, [{ tags: { dc: 'eu', host: 'a' }, points: mine }], 'avg(1h) vs hand computation');
});

t.test('late points recompute their bucket; rollups outlive raw retention', async (t) => {
  const dir = tempDir(t);
  const store = new TsStore(path.join(dir, 'ts.mdb'));
  t.teardown(() => store.close());
  const now = Date.now();
  const base = Math.floor((now - 3 * HOUR) / HOUR) * HOUR;
  const pts: Point[] = [];
  for (let i = 0; i < 60; i++) pts.push({ measurement: 'x', tags: { k: 'v' }, fields: { value: 1 }, fieldTypes: { value: 'float' }, timestamp: base + i * 60_000 });
  await store.write('n', pts);
  await store.rollupAll(now);
  const sumQ = parseFloQL('x | sum(1h)');
  const sum1 = (store.query('n', sumQ, now) as { series: Series[] }).series[0].points;
  t.same(sum1, [{ timestamp: base, value: 60 }]);

  // A late point into the sealed hour: the rollup is stale until the next pass recomputes it,
  // and queries still answer exactly in between (they read raw for nothing sealed... so check after the pass).
  await store.write('n', [{ measurement: 'x', tags: { k: 'v' }, fields: { value: 100 }, fieldTypes: { value: 'float' }, timestamp: base + 30_500 }]);
  await store.rollupAll(now);
  t.ok(store.rolledDirty >= 2, 'the late bucket was recomputed at both resolutions');
  const sum2 = (store.query('n', sumQ, now) as { series: Series[] }).series[0].points;
  t.same(sum2, [{ timestamp: base, value: 160 }], 'late point counted once');
  t.same((store.query('n', sumQ, now, { rollups: false }) as { series: Series[] }).series[0].points, sum2, 'raw agrees');

  // Raw retention of one hour deletes the points; the 1 h rollups (kept 100×) still answer.
  await store.setRetention('n', HOUR);
  await store.trimAll(now);
  const rawAfter = store.query('n', parseFloQL('x'), now) as { series: Series[] };
  t.same(rawAfter.series, [], 'raw points are gone');
  t.same((store.query('n', sumQ, now) as { series: Series[] }).series[0].points, [{ timestamp: base, value: 160 }], 'the hourly rollup still answers');
});

t.test('a late point counts at once, before the next rollup pass (1-minute and 1-hour buckets)', async (t) => {
  const dir = tempDir(t);
  const store = new TsStore(path.join(dir, 'ts.mdb'));
  t.teardown(() => store.close());
  const now = Date.now();
  const hour = Math.floor((now - 3 * HOUR) / HOUR) * HOUR; // a whole hour, sealed at both resolutions
  const minute = hour + 17 * 60_000;
  const pt = (timestamp: number, value: number): Point => ({ measurement: 'm', tags: { h: 'x' }, fields: { v: value }, fieldTypes: { v: 'float' }, timestamp });
  await store.write('n', [pt(minute + 1000, 1), pt(hour + 40 * 60_000, 5)]);
  await store.rollupAll(now);
  const dirtyBefore = store.rolledDirty;
  // Ten late points land in the folded minute (and hour); no rollup pass runs.
  await store.write('n', Array.from({ length: 10 }, (_, i) => pt(minute + 2000 + i, 1)));
  t.equal(store.rolledDirty, dirtyBefore, 'no pass has recomputed anything');
  for (const [q, want] of [
    ['m.v[4h] | sum(1m)', [{ timestamp: minute, value: 11 }, { timestamp: hour + 40 * 60_000, value: 5 }]],
    ['m.v[4h] | count(5m)', [{ timestamp: hour + 15 * 60_000, value: 11 }, { timestamp: hour + 40 * 60_000, value: 1 }]],
    ['m.v[4h] | sum(1h)', [{ timestamp: hour, value: 16 }]],
    ['m.v[4h] | max(2h)', [{ timestamp: Math.floor(hour / (2 * HOUR)) * 2 * HOUR, value: 5 }]],
  ] as const) {
    const parsed = parseFloQL(q);
    const withRollups = (store.query('n', parsed, now) as { series: Series[] }).series;
    const raw = (store.query('n', parsed, now, { rollups: false }) as { series: Series[] }).series;
    t.same(raw.map((s) => s.points), [want], `${q}: raw points`);
    t.same(withRollups.map((s) => s.points), [want], `${q}: rollup-answered query sees the late points`);
  }
  // After the pass the buckets are clean again and still agree.
  await store.rollupAll(now);
  t.ok(store.rolledDirty >= dirtyBefore + 2, 'the pass recomputed the minute and the hour');
  t.same((store.query('n', parseFloQL('m.v[4h] | sum(1m)'), now) as { series: Series[] }).series[0].points[0], { timestamp: minute, value: 11 });
});

t.test('HTTP (query in a pool worker): a late point counts before the next rollup pass', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_TS_ROLLUP_INTERVAL_MS: '0' });
  const now = Date.now();
  const minute = Math.floor((now - 2 * HOUR) / 60_000) * 60_000; // its hour is sealed too
  const write = async (body: string) => {
    const w = await request(`${url}/api/v1/ts/late/write?precision=ms`, { method: 'POST', body });
    t.equal(w.statusCode, 200);
    await w.body.dump();
  };
  await write(`m v=1 ${minute + 1000}`);
  await daemon.ts.rollupAll();
  await write(Array.from({ length: 10 }, (_, i) => `m v=1 ${minute + 2000 + i}`).join('\n'));
  const ask = async (query: string, rollups: boolean) => {
    const r = await request(`${url}/api/v1/ts/late/query`, { method: 'POST', body: JSON.stringify({ query, rollups }), headers: { 'content-type': 'application/json' } });
    return ((await r.body.json()) as { series: Series[] }).series[0].points;
  };
  for (const q of ['m.v[3h] | sum(1m)', 'm.v[4h] | sum(1h)']) {
    const raw = await ask(q, false);
    t.equal(raw.reduce((a, p) => a + p.value, 0), 11, `${q}: raw sums 11`);
    t.same(await ask(q, true), raw, `${q}: the rollup-answered query agrees`);
  }
});

t.test('HTTP: rollups=false reads raw and agrees', async (t) => {
  const { url, daemon } = await startInProc(t);
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) lines.push(`load,h=x value=${i % 17} ${now - 2 * HOUR + i * 3000}`);
  const w = await request(`${url}/api/v1/ts/r/write?precision=ms`, { method: 'POST', body: lines.join('\n') });
  t.equal(w.statusCode, 200);
  await w.body.dump();
  await daemon.ts.rollupAll();
  // The range starts an hour before the first point: the two queries run at different `now`s
  // (seconds apart on a loaded machine) and must still see the same points.
  const ask = async (rollups?: boolean) => {
    const r = await request(`${url}/api/v1/ts/r/query`, { method: 'POST', body: JSON.stringify({ query: 'load[3h] | avg(10m)', ...(rollups === undefined ? {} : { rollups }) }), headers: { 'content-type': 'application/json' } });
    return (await r.body.json()) as { series: Series[] };
  };
  const a = await ask();
  const b = await ask(false);
  t.ok(a.series[0].points.length >= 10, 'about 100 minutes of 10-minute windows');
  t.ok(daemon.ts.rolledPoints > 0, 'the rollup pass folded points');
  sameSeries(t, a.series, b.series, 'rollups vs raw over HTTP');
});

t.test('a pass cut by its point budget resumes without reading a point twice', async (t) => {
  const dir = tempDir(t);
  const store = new TsStore(path.join(dir, 'ts.mdb'));
  t.teardown(() => store.close());
  const now = Date.now();
  const pts: Point[] = [];
  for (let i = 0; i < 5000; i++) pts.push({ measurement: 'y', tags: {}, fields: { value: i }, fieldTypes: { value: 'float' }, timestamp: now - 10 * HOUR + i * 7000 });
  await store.write('b', pts);
  const read = await store.rollupAll(now, 300); // many small transactions
  const sealed = (res: number) => pts.filter((p) => p.timestamp < Math.floor((now - 60_000) / res) * res).length;
  t.equal(read, sealed(60_000) + sealed(HOUR), 'each point read once per resolution');
  const q = parseFloQL('y | sum(1h)');
  const a = store.query('b', q, now) as { series: Series[] };
  const b = store.query('b', q, now, { rollups: false }) as { series: Series[] };
  sameSeries(t, a.series, b.series, 'budgeted rollups agree with raw');
});
