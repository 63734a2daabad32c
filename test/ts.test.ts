// Time series over HTTP: line protocol writes and FloQL queries, checked against values
// computed independently in the test.
import t from 'tap';
import { request } from 'undici';
import { startInProc } from './helpers/daemon';

async function write(url: string, ns: string, body: string, precision = 'ms') {
  const r = await request(`${url}/api/v1/ts/${ns}/write?precision=${precision}`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
  return { status: r.statusCode, json: (await r.body.json()) as any };
}
async function query(url: string, ns: string, q: string) {
  const r = await request(`${url}/api/v1/ts/${ns}/query`, { method: 'POST', body: JSON.stringify({ query: q }), headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, json: (await r.body.json()) as any };
}

t.test('write and query: windows, ranges, matchers, grouping', async (t) => {
  const { url } = await startInProc(t);
  const now = Date.now();
  const W = 5 * 60_000;
  const hosts = ['web-01', 'web-02', 'db-01'];
  const raw: Array<{ host: string; ts: number; v: number }> = [];
  const lines: string[] = [];
  for (const [h, host] of hosts.entries()) {
    for (let i = 0; i < 360; i++) {
      const ts = now - i * 10_000 - 1; // every 10 s over the last hour
      const v = Math.round((50 + 30 * Math.sin(i / 7 + h) + h) * 100) / 100;
      raw.push({ host, ts, v });
      lines.push(`cpu,host=${host},dc=eu usage=${v},idle=${100 - v} ${ts}`);
    }
  }
  const w = await write(url, 'm', lines.join('\n'));
  t.equal(w.status, 200);
  t.equal(w.json.written, 360 * 3 * 2);

  let r = await query(url, 'm', 'cpu{host=web-01}[1h] | avg(5m)');
  t.equal(r.status, 400, 'two fields and none named');
  t.same(r.json.details.available_fields, ['idle', 'usage']);

  r = await query(url, 'm', 'cpu.usage{host=web-01}[1h] | avg(5m)');
  t.equal(r.status, 200);
  t.equal(r.json.series.length, 1);
  const s = r.json.series[0];
  t.same([s.measurement, s.field, s.tags], ['cpu', 'usage', { dc: 'eu', host: 'web-01' }]);
  // Independent computation: epoch-aligned 5-minute windows over (now - 1h, now].
  const expect = new Map<number, number[]>();
  for (const p of raw) if (p.host === 'web-01' && p.ts > now - 3_600_000 && p.ts <= now) {
    const w0 = Math.floor(p.ts / W) * W;
    expect.set(w0, [...(expect.get(w0) ?? []), p.v]);
  }
  const want = [...expect.entries()].sort((a, b) => a[0] - b[0]).map(([ts, vs]) => ({ timestamp: ts, value: vs.reduce((a, b) => a + b, 0) / vs.length }));
  t.equal(s.points.length, want.length);
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    t.equal(s.points[i].timestamp, want[i].timestamp);
    maxErr = Math.max(maxErr, Math.abs(s.points[i].value - want[i].value));
  }
  t.ok(maxErr < 1e-9, `window averages match (max error ${maxErr})`);

  r = await query(url, 'm', 'cpu.usage{host=~"web-.*"}[10m] | max(10m) by (dc)');
  t.equal(r.json.series.length, 1, 'by (dc) merges both web hosts');
  const webMax = Math.max(...raw.filter((p) => p.host.startsWith('web-') && p.ts > now - 600_000).map((p) => p.v));
  t.equal(Math.max(...r.json.series[0].points.map((p: any) => p.value)), webMax, 'max over the merged group');
  r = await query(url, 'm', 'cpu.usage{host!=db-01}[1h] | count(1h)');
  t.same(r.json.series.map((x: any) => x.tags.host).sort(), ['web-01', 'web-02']);
  const counted = r.json.series.reduce((a: number, x: any) => a + x.points.reduce((b: number, p: any) => b + p.value, 0), 0);
  t.equal(counted, raw.filter((p) => p.host !== 'db-01' && p.ts > now - 3_600_000).length, 'count matches');
});

t.test('the only field, or `value`, is used when none is named', async (t) => {
  const { url } = await startInProc(t);
  const now = Date.now();
  await write(url, 'f', `temp,room=a celsius=20 ${now - 1000}\nload value=1.5,other=2 ${now - 1000}`);
  t.equal((await query(url, 'f', 'temp[1m] | last(1m)')).json.series[0].field, 'celsius');
  t.equal((await query(url, 'f', 'load[1m]')).json.series[0].field, 'value');
  t.equal((await query(url, 'f', 'nothing[1m]')).status, 404);
});

t.test('bad lines reject the whole batch with the line number; bad queries name the column', async (t) => {
  const { url } = await startInProc(t);
  const now = Date.now();
  const r = await write(url, 'b', `ok,t=1 v=1 ${now}\nok,t=1 v=2 ${now - 1}\nbroken,t=1 v=abc ${now}\n`);
  t.equal(r.status, 400);
  t.equal(r.json.details.line, 3);
  t.match(r.json.message, /line 3/);
  t.equal((await query(url, 'b', 'ok.v[1h]')).status, 404, 'no line of the rejected batch was written (namespace not even created)');
  t.equal((await write(url, 'b', '   \n')).status, 400, 'empty body');
  const q = await query(url, 'b', 'cpu{host=}[1h]');
  t.equal(q.status, 400);
  t.type(q.json.details.position, 'number');
  t.equal(q.json.details.fields[0].field, 'body.query');
  const p = await write(url, 'b', `sec v=7 ${Math.floor(now / 1000)}`, 's');
  t.equal(p.status, 200);
  const got = await query(url, 'b', 'sec[1m]');
  t.equal(got.json.series[0].points[0].timestamp, Math.floor(now / 1000) * 1000, 'precision=s converted to ms');
  t.equal((await write(url, 'b', 'x v=1', 'minutes')).status, 400, 'unknown precision');
});

t.test('a write whose measurement or tag is not valid UTF-8 is 400, and nothing is written', async (t) => {
  const { url } = await startInProc(t);
  const send = async (body: Buffer) => {
    const r = await request(`${url}/api/v1/ts/u/write?precision=ms`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    return { status: r.statusCode, json: (await r.body.json()) as any };
  };
  const now = Date.now();
  let r = await send(Buffer.concat([Buffer.from(`ok v=1 ${now}\nm`), Buffer.from([0xff, 0xfe]), Buffer.from(` v=1 ${now}`)]));
  t.equal(r.status, 400, 'invalid UTF-8 in the measurement');
  t.equal(r.json.error, 'bad_request');
  t.equal(r.json.details.line, 2);
  t.match(r.json.message, /line 2: the measurement is not valid UTF-8 \(byte 0xff at offset \d+ of the body\)/);
  t.equal(r.json.details.fields[0].field, 'body');
  r = await send(Buffer.concat([Buffer.from('m,host='), Buffer.from([0xc3]), Buffer.from(` v=1 ${now}`)]));
  t.equal(r.status, 400, 'invalid UTF-8 in a tag value');
  t.match(r.json.message, /the value of tag "host" is not valid UTF-8/);
  t.equal((await query(url, 'u', 'ok.v[1h]')).status, 404, 'the batch was rejected whole (namespace not even created)');
  r = await send(Buffer.from(`m2,h=\u00e9t\u00e9\u{1F600} v=1 ${now}`));
  t.equal(r.status, 200, 'valid UTF-8 is written');
  const q = await query(url, 'u', 'm2{h="\u00e9t\u00e9\u{1F600}"}[1h]');
  t.same(q.json.series.map((s: any) => s.tags), [{ h: '\u00e9t\u00e9\u{1F600}' }], 'and stored as sent');
});

t.test('retention per namespace deletes old points in the background', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_TS_TRIM_INTERVAL_MS: '0' });
  const now = Date.now();
  const lines = [];
  for (let i = 0; i < 100; i++) lines.push(`temp,room=a v=${i} ${now - i * 60_000}`); // one per minute, 100 min back
  lines.push(`temp,room=a s="note" ${now - 90 * 60_000}`);
  await write(url, 'r', lines.join('\n'));
  const put = await request(`${url}/api/v1/ts/r/retention`, { method: 'PUT', body: JSON.stringify({ max_age_ms: 30 * 60_000 }) });
  t.same(await put.body.json(), { max_age_ms: 1800000 });
  t.same(await (await request(`${url}/api/v1/ts/r/retention`)).body.json(), { max_age_ms: 1800000 });
  const removed = await daemon.ts.trimAll(now);
  t.equal(removed, 69 + 1, 'the 69 numeric points older than 30 min and the old string point');
  const q = await query(url, 'r', 'temp.v[1d] | count(1d)');
  t.equal(q.json.series[0].points.reduce((a: number, p: any) => a + p.value, 0), 31, 'points up to exactly 30 minutes old are kept');
  t.equal(await daemon.ts.trimAll(now), 0, 'a second pass has nothing to do');
});
