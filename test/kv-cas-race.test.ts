// Concurrent CAS writers on one key: exactly one wins per version.
import t from 'tap';
import { Pool } from 'undici';
import { inlineWrites } from '../bench/ablation/modes';
import { b64, startInProc } from './helpers/daemon';

async function put(pool: Pool, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await pool.request({ method: 'PUT', path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, json: await r.body.json() };
}

t.test('50 writers race cas_version=0 on a fresh key: one wins', async (t) => {
  const { url } = await startInProc(t);
  const pool = new Pool(url, { connections: 50 });
  t.teardown(() => pool.close());
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => put(pool, '/api/v1/kv/race/fresh', { value: b64(`w${i}`), cas_version: 0 })));
  const wins = results.filter((r) => r.status === 200);
  t.equal(wins.length, 1, 'exactly one 200');
  t.equal(results.filter((r) => r.status === 409).length, 49, 'all others 409');
  for (const r of results) if (r.status === 409) t.equal(r.json.current_version, 1);
});

for (const mode of ['main', 'inline', 'batch'] as const) t.test(`read-modify-write loops: every version is won exactly once (write mode ${mode})`, async (t) => {
  // `inline` is the bench's (bench/ablation/), plugged in as the ablation does.
  const { url } = mode === 'inline'
    ? await startInProc(t, ['--partitions', '2'], {}, { writeMode: inlineWrites })
    : await startInProc(t, ['--partitions', '2', '--write-mode', mode]);
  const pool = new Pool(url, { connections: 16 });
  t.teardown(() => pool.close());
  await put(pool, '/api/v1/kv/race/counter', { value: b64('0') });
  const winsByVersion = new Map<number, string>();
  let conflicts = 0;
  const deadline = Date.now() + 2000;
  await Promise.all(Array.from({ length: 16 }, async (_, w) => {
    while (Date.now() < deadline) {
      const g = await pool.request({ method: 'GET', path: '/api/v1/kv/race/counter' });
      const cur = (await g.body.json()) as { version: number; value: string };
      const next = Number(Buffer.from(cur.value, 'base64').toString()) + 1;
      const r = await put(pool, '/api/v1/kv/race/counter', { value: b64(String(next)), cas_version: cur.version });
      if (r.status === 200) {
        t.notOk(winsByVersion.has(r.json.version), `version ${r.json.version} won twice`);
        winsByVersion.set(r.json.version, `w${w}`);
      } else {
        t.equal(r.status, 409);
        t.ok(r.json.current_version > cur.version, 'a conflict reports a newer version');
        conflicts++;
      }
    }
  }));
  const g = await pool.request({ method: 'GET', path: '/api/v1/kv/race/counter' });
  const final = (await g.body.json()) as { version: number; value: string };
  t.ok(winsByVersion.size > 10, `${winsByVersion.size} successful increments`);
  t.ok(conflicts > 0, `${conflicts} conflicts: the writers really raced`);
  t.equal(final.version, winsByVersion.size + 1, 'versions are dense: one win per version');
  t.equal(Number(Buffer.from(final.value, 'base64').toString()), winsByVersion.size, 'no lost update: the counter equals the wins');
});
