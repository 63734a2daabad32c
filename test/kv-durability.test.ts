// Acknowledged means on disk: SIGKILL the daemon under concurrent write load, restart it, and
// find every acknowledged write with (at least) its acknowledged version. `inline` is the
// bench's (bench/ablation/): the ablation compares durable writes, so it is held to the same rule.
import t from 'tap';
import { Pool } from 'undici';
import { ABLATION_MAIN, b64, spawnDaemon, tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

for (const mode of ['batch', 'main', 'inline'] as const) {
  const start = (dataDir: string) => mode === 'inline'
    ? spawnDaemon(t, ['--data-dir', dataDir, '--ablation-write-mode', mode], {}, 15_000, ABLATION_MAIN)
    : spawnDaemon(t, ['--data-dir', dataDir, '--write-mode', mode]);
  t.test(`SIGKILL mid-load loses no acknowledged write (write mode ${mode})`, async (t) => {
    const dataDir = tempDir(t);
    const first = await start(dataDir);
    const pool = new Pool(first.url, { connections: 64, pipelining: 1 });
    const acked = new Map<string, { version: number; value: string }>();
    let killed = false;
    let errors = 0;
    const clients = Array.from({ length: 64 }, async (_, c) => {
      for (let i = 0; !killed; i++) {
        // Half the clients write fresh keys, half overwrite a small set of hot keys.
        const key = c % 2 === 0 ? `c${c}-${i}` : `hot${c % 8}`;
        const value = b64(`${c}:${i}:${'x'.repeat(64)}`);
        try {
          const r = await pool.request({ method: 'PUT', path: `/api/v1/kv/dur/${key}`, body: JSON.stringify({ value }), headers: { 'content-type': 'application/json' } });
          const body = (await r.body.json()) as { version: number };
          if (r.statusCode === 200) {
            const prev = acked.get(key);
            if (!prev || prev.version < body.version) acked.set(key, { version: body.version, value });
          }
        } catch {
          errors++;
          return; // the connection died with the process
        }
      }
    });
    await until('500 acknowledged keys', () => acked.size >= 500 || errors > 0, 30_000);
    t.ok(acked.size > 100, `${acked.size} keys acknowledged before the kill`);
    first.proc.kill('SIGKILL');
    killed = true;
    const { signal } = await first.exited;
    t.equal(signal, 'SIGKILL');
    await Promise.all(clients);
    await pool.destroy();

    const second = await start(dataDir);
    const check = new Pool(second.url, { connections: 16 });
    t.teardown(() => check.close());
    let missing = 0;
    let older = 0;
    let wrongValue = 0;
    const entries = [...acked.entries()];
    for (let i = 0; i < entries.length; i += 64) {
      await Promise.all(entries.slice(i, i + 64).map(async ([key, want]) => {
        const r = await check.request({ method: 'GET', path: `/api/v1/kv/dur/${key}` });
        const body = (await r.body.json()) as { version: number; value: string };
        if (r.statusCode !== 200) { missing++; return; }
        if (body.version < want.version) older++;
        else if (body.version === want.version && body.value !== want.value) wrongValue++;
      }));
    }
    t.equal(missing, 0, 'no acknowledged key is missing');
    t.equal(older, 0, 'no key went back to an older version than acknowledged');
    t.equal(wrongValue, 0, 'the acknowledged version holds the acknowledged value');
    second.proc.kill('SIGTERM');
    const exit = await second.exited;
    t.equal(exit.code, 0, 'SIGTERM drains and exits 0');
    t.comment(`${acked.size} acknowledged keys verified; ${errors} client requests cut by the kill`);
  });
}
