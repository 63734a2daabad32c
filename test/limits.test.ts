// Load shedding (429 overloaded instead of unbounded queues) and 503 while draining.
import t from 'tap';
import { Client, Pool } from 'undici';
import { b64, startInProc } from './helpers/daemon';

async function burst(url: string, n: number): Promise<Array<{ status: number; body: any; retryAfter?: string }>> {
  const pool = new Pool(url, { connections: n });
  try {
    return await Promise.all(Array.from({ length: n }, async (_, i) => {
      const r = await pool.request({ method: 'PUT', path: `/api/v1/kv/shed/k${i}`, body: JSON.stringify({ value: b64(`v${i}`) }), headers: { 'content-type': 'application/json' } });
      return { status: r.statusCode, body: await r.body.json(), retryAfter: r.headers['retry-after'] as string | undefined };
    }));
  } finally {
    await pool.close();
  }
}

for (const [name, env] of [
  ['queued writes past core.max_inflight', { OUTPOST_MAX_INFLIGHT: '4' }],
  ['requests past http.max_inflight_requests', { OUTPOST_HTTP_MAX_INFLIGHT_REQUESTS: '4' }],
] as const) {
  t.test(`${name} get 429 overloaded, the rest succeed`, async (t) => {
    const { url, daemon } = await startInProc(t, [], env);
    const results = await burst(url, 200);
    const ok = results.filter((r) => r.status === 200);
    const shed = results.filter((r) => r.status === 429);
    t.equal(ok.length + shed.length, 200, 'every request is either done or shed');
    t.ok(shed.length > 0, `${shed.length} shed`);
    t.ok(ok.length > 0, `${ok.length} done`);
    for (const r of shed) {
      t.equal(r.body.error, 'overloaded');
      t.equal(r.retryAfter, '1');
    }
    for (const r of ok) t.ok(daemon.dataPlane.kv.get('shed', r.body.key), `acknowledged ${r.body.key} is stored`);
    t.equal(daemon.dataPlane.kv.inflight, 0);
  });
}

t.test('requests on an open connection during drain get 503 unavailable', async (t) => {
  const { url, daemon } = await startInProc(t);
  const client = new Client(url);
  t.teardown(() => client.destroy());
  let r = await client.request({ method: 'GET', path: '/healthz' });
  t.equal(r.statusCode, 200);
  await r.body.dump();
  await daemon.close();
  r = await client.request({ method: 'GET', path: '/api/v1/namespaces' });
  t.equal(r.statusCode, 503);
  t.equal(((await r.body.json()) as { error: string }).error, 'unavailable');
  t.equal(r.headers.connection, 'close', 'the server asks the client to reconnect elsewhere');
  r = await new Client(url).request({ method: 'GET', path: '/healthz' }).catch((e: Error) => ({ statusCode: 0, body: { dump: async () => undefined }, err: e }) as never);
  t.equal(r.statusCode, 0, 'the listener is closed: new connections are refused');
});
