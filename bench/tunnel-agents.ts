// Child process of bench/tunnel.ts: many simulated agents, each a real TunnelClient (undici
// WebSocket, in-memory outbox) with real heartbeats. A delivered command is "run" at once: the
// agent reports a completed result through the tunnel (the fan-out measures the tunnel, not bash).
import pino from 'pino';
import { TunnelClient } from '../daemon/agent/tunnel';
import { MemoryTunnelStore } from '../test/helpers/memory-tunnel-store';

interface Msg { cmd: 'connect' | 'stop'; url?: string; agents?: Array<{ node_id: string; token: string }>; spreadMs?: number; heartbeatMs?: number }

const log = pino({ level: 'silent' });
const clients: TunnelClient[] = [];
const started = process.cpuUsage();
const t0 = Date.now();

function report(): void {
  let up = 0;
  for (const c of clients) if (c.state === 'up') up++;
  process.send!({ ev: 'status', up, total: clients.length, rss: process.memoryUsage().rss });
}

process.on('message', (m: Msg) => {
  if (m.cmd === 'connect') {
    const list = m.agents!;
    const step = list.length ? m.spreadMs! / list.length : 0;
    list.forEach((a, i) => setTimeout(() => {
      let c!: TunnelClient;
      c = new TunnelClient({
        url: m.url!, token: a.token, nodeId: a.node_id, agentVersion: 'bench', store: new MemoryTunnelStore(), log, heartbeatIntervalMs: m.heartbeatMs!,
        hooks: {
          async onCommandDeliver(d) {
            setImmediate(() => void c.reportResult({ execution_id: d.execution_id, status: 'completed', exit_code: 0, output: 'ok\n', started_at: Date.now(), completed_at: Date.now() }));
            return null;
          },
        },
      });
      clients.push(c);
      c.start();
    }, Math.floor(i * step)));
  } else if (m.cmd === 'stop') {
    for (const c of clients) c.stop();
    const cpu = process.cpuUsage(started);
    process.send!({ ev: 'stopped', cpu_s: (cpu.user + cpu.system) / 1e6, wall_s: (Date.now() - t0) / 1000 }, () => process.exit(0));
  }
});
setInterval(report, 500).unref();
process.on('disconnect', () => process.exit(0));
