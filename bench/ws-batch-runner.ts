// Load runner for bench/ws-batch.ts (spawned pinned to the client CPU): batched KV GET and
// durable PUT over the binary WebSocket protocol with BatchClient; prints one JSON line.
import { BatchClient, type Op } from '../daemon/client/ws-batch-client';

interface Spec { url: string; keys: number; valueBytes: number; seconds: number; batch: number; inflight: number; prefill: boolean }

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as Spec;
  const c = await BatchClient.connect(spec.url);
  const value = Buffer.alloc(spec.valueBytes, 0x61);
  if (spec.prefill) {
    for (let i = 0; i < spec.keys; i += 1000) {
      await c.batch(Array.from({ length: Math.min(1000, spec.keys - i) }, (_, j): Op => ({ kv_put: { namespace: 'bench', key: `k${i + j}`, value } })));
    }
  }
  const out: Record<string, number> = {};
  for (const kind of ['get', 'put'] as const) {
    let ops = 0;
    let failed = 0;
    const end = Date.now() + spec.seconds * 1000;
    const worker = async () => {
      while (Date.now() < end) {
        const batch = Array.from({ length: spec.batch }, (): Op => {
          const key = `k${Math.floor(Math.random() * spec.keys)}`;
          return kind === 'get' ? { kv_get: { namespace: 'bench', key } } : { kv_put: { namespace: 'bench', key, value } };
        });
        const r = await c.batch(batch);
        ops += r.length;
        failed += r.filter((x) => x.status !== 200).length;
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: spec.inflight }, worker));
    out[`${kind}_ops_per_sec`] = Math.round(ops / ((Date.now() - t0) / 1000));
    out[`${kind}_failed`] = failed;
  }
  await c.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e) + '\n'); process.exit(1); });
