// Issue 11 review findings: a throwing KV change listener must not hold up committed writes,
// and a config error never echoes a secret's value.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { loadConfig } from '../daemon/config/config';
import { startInProc, tempDir } from './helpers/daemon';

t.test('a KV change listener that throws: the writes are still acknowledged and readable', async (t) => {
  t.setTimeout(30_000);
  const d = await startInProc(t);
  let calls = 0;
  const errors: unknown[] = [];
  d.daemon.dataPlane.kv.listeners.add(() => { calls++; throw new Error('listener bug'); });
  const prev = d.daemon.dataPlane.kv.onListenerError;
  d.daemon.dataPlane.kv.onListenerError = (err) => { errors.push(err); prev?.(err); };
  for (const v of ['YQ==', 'Yg==']) {
    const r = await request(`${d.url}/api/v1/kv/app/k`, { method: 'PUT', body: JSON.stringify({ value: v }), headersTimeout: 10_000 });
    t.equal(r.statusCode, 200, `PUT ${v} acknowledged`);
    await r.body.dump();
  }
  const g = await request(`${d.url}/api/v1/kv/app/k`);
  t.equal(((await g.body.json()) as { value: string }).value, 'Yg==', 'the last write is visible');
  t.equal(calls, 2, 'the listener saw both writes');
  t.equal(errors.length, 2, 'and each failure was reported');
});

t.test('a bad value of a secret setting is reported without the value', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'o.toml');
  fs.writeFileSync(file, 'api_key = 12345678\nmaster_key = true\n');
  const message = (fn: () => unknown): string => { try { fn(); return ''; } catch (err) { return (err as Error).message; } };
  const m1 = message(() => loadConfig(['--config', file, '--data-dir', dir], {}));
  t.match(m1, /api_key must be a non-empty string/, 'the setting is named');
  t.notMatch(m1, /12345678/, 'its value is not');
  const m2 = message(() => loadConfig(['--data-dir', dir], { OUTPOST_API_PORT: 'hunter2' }));
  t.match(m2, /hunter2/, 'a non-secret value is still shown');
});
