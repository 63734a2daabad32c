// `npm run bench:event-sink`: how fast the NATS JetStream event sink drains a burst. Starts a
// throw-away nats-server (JetStream on a temp dir, loopback, the OS's port) and an admin (SQLite)
// with NATS_URL, queues N events at once in the outbox (emitEvents, one transaction), wakes the
// admin and times until the sink's cursor has passed all of them (every one PubAcked). The
// webhook dispatcher fans the same events out meanwhile, on the same process and database, as in
// production. Options: --events 20000. Needs `nats-server` (apt-get install nats-server).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAdmin } from '../daemon/admin';
import { emitEvents } from '../daemon/admin/store/events';
import { loadConfig } from '../daemon/config/config';
import { createLogger } from '../daemon/base/log';

const i = process.argv.indexOf('--events');
const N = i > 0 ? Number(process.argv[i + 1]) : 20_000;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-sink-'));
  const nats = spawn('nats-server', ['-js', '-sd', path.join(dir, 'js'), '-a', '127.0.0.1', '-p', '-1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let log = '';
      nats.on('error', reject);
      nats.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        const m = log.match(/Listening for client connections on 127\.0\.0\.1:(\d+)/);
        if (m && /Server is ready/.test(log)) resolve(Number(m[1]));
      });
    });
    const cfg = loadConfig(['--data-dir', path.join(dir, 'admin'), '--admin', 'true', '--admin-port', '0', '--log-level', 'silent'], { NATS_URL: `nats://127.0.0.1:${port}` });
    const admin = await startAdmin(cfg, createLogger('silent'));
    try {
      const events = Array.from({ length: N }, (_, k) => ({ type: 'edge.node.status_changed' as const, subject: `n${k}`, data: { node_id: `n${k}`, previous_status: 'healthy', status: 'unreachable' } }));
      await emitEvents(admin.store.db, events);
      const t0 = performance.now();
      admin.ctx.wake();
      const sink = () => admin.eventSinks.stats()[0];
      while (!(sink().position >= N && sink().lag === 0)) await new Promise((r) => setTimeout(r, 5));
      const ms = performance.now() - t0;
      const s = sink();
      process.stdout.write(`${JSON.stringify({ events: N, ms: Math.round(ms), events_per_s: Math.round((N / ms) * 1000), published_total: s.published_total, duplicates_total: s.duplicates_total, failures_total: s.failures_total })}\n`);
    } finally {
      await admin.close();
    }
  } finally {
    nats.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
