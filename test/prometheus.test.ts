// Prometheus /metrics on both roles: the exposition format (HELP/TYPE, _total counters, no
// duplicate series, consistent histograms), the request-duration histogram counting a request
// made here with its route pattern, method and status class, the build/process families, host
// network and filesystem families, the admin's fleet gauges following a node's status, and the
// metrics-only token: accepted on /metrics, refused on data and admin routes and the WebSocket;
// and the /proc parsers behind the host families, on fixed file texts.
import http from 'node:http';
import t from 'tap';
import { request } from 'undici';
import { iso, newId } from '../daemon/admin/store/util';
import { busyRatio, parseDiskstats, parseMountinfo, parseNetDev, parseProcStat } from '../daemon/agent/metrics/procfs';
import { addNode } from './helpers/admin-ssh';
import { startInProc } from './helpers/daemon';
import { find, parseExposition, type Exposition } from './helpers/prom';
import { until } from './helpers/wait';

const MASTER = 'm'.repeat(32);
const API = 'a'.repeat(32);
const METRICS = 'p'.repeat(32);
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  const r = await request(url, { headers });
  return { status: r.statusCode, body: await r.body.text(), type: String(r.headers['content-type']) };
}

async function scrape(t: Parameters<typeof parseExposition>[0], url: string): Promise<Exposition> {
  const r = await get(`${url}/metrics`, bearer(METRICS));
  t.equal(r.status, 200, 'the metrics token opens /metrics');
  t.match(r.type, /^text\/plain; version=0\.0\.4/);
  return parseExposition(t, r.body);
}

/** Status of a WebSocket upgrade attempt (101 when accepted). */
function upgradeStatus(port: number, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/v1/ws', headers: { ...bearer(token), connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode ?? 0); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('upgrade timed out')));
  });
}

t.test('agent /metrics: format, request histogram, process and host families, metrics token', async (t) => {
  t.setTimeout(60_000);
  const { url, daemon } = await startInProc(t, [], { MASTER_KEY: MASTER, API_KEY: API, METRICS_KEY: METRICS });

  // Requests to count: a PUT answered 2xx, a GET answered 404 (the key is absent), an unmatched path.
  const ns = await request(`${url}/api/v1/namespaces`, { method: 'POST', headers: { ...bearer(API), 'content-type': 'application/json' }, body: '{"name":"prom"}' });
  t.equal(ns.statusCode, 201, await ns.body.text());
  const put = await request(`${url}/api/v1/kv/prom/k1`, { method: 'PUT', headers: { ...bearer(API), 'content-type': 'application/json' }, body: JSON.stringify({ value: Buffer.from('v').toString('base64') }) });
  t.ok(put.statusCode >= 200 && put.statusCode < 300, `PUT answered ${put.statusCode}: ${await put.body.text()}`);
  const missing = await get(`${url}/api/v1/kv/prom/absent`, bearer(API));
  t.equal(missing.status, 404);
  t.equal((await get(`${url}/no/such/route`, bearer(API))).status, 404);

  const e = await scrape(t, url);
  const route = '/api/v1/kv/:namespace/:key';
  const putCount = find(e, 'outpost_http_request_duration_seconds_count', { route, method: 'PUT', status_class: '2xx' });
  t.equal(putCount.length, 1, 'one series for PUT 2xx on the KV route pattern');
  t.equal(putCount[0]?.value, 1, 'it counted the PUT made here');
  t.equal(find(e, 'outpost_http_request_duration_seconds_count', { route, method: 'GET', status_class: '4xx' })[0]?.value, 1, 'the 404 GET is 4xx on the same pattern');
  t.equal(find(e, 'outpost_http_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status_class: '4xx' })[0]?.value, 1, 'an unmatched path is counted under route="unmatched"');
  t.notOk(e.samples.some((s) => s.labels.route?.includes('/prom/')), 'no raw URL in a route label');
  t.equal(e.types.get('outpost_http_request_duration_seconds'), 'histogram');

  const info = find(e, 'outpost_build_info');
  t.equal(info.length, 1);
  t.match(info[0], { value: 1, labels: { role: 'agent', version: /^\d+\.\d+\.\d+/, node_version: process.version } });
  for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total', 'process_start_time_seconds', 'process_resident_memory_bytes', 'process_open_fds', 'nodejs_eventloop_lag_p99_seconds', 'outpost_ops_total']) {
    t.equal(find(e, name).length, 1, `${name} is exported once`);
  }
  t.equal(e.types.get('outpost_ops_total'), 'counter');
  t.ok(Math.abs(find(e, 'process_start_time_seconds')[0].value - (Date.now() / 1000 - process.uptime())) < 5, 'start time is this process');
  t.notOk(e.types.has('outpost_ops_per_second'), 'no rate exposed as a gauge');
  const rssLike = e.samples.filter((s) => /resident|rss/.test(s.name) || s.labels.kind === 'rss');
  t.same(rssLike.map((s) => s.name), ['process_resident_memory_bytes'], 'RSS exported once');
  const closed = find(e, 'outpost_agent_proxy_tunnels_closed_total');
  t.same(closed.map((s) => s.labels.reason).sort(), ['deadline', 'drain_timeout', 'normal'], 'close reasons are a label');
  t.notOk([...e.types.keys()].some((n) => /^outpost_agent_proxy_tunnels_closed_.+_total$/.test(n)), 'no metric name per close reason');
  const ratio = find(e, 'outpost_host_memory_usage_ratio')[0]?.value;
  t.ok(ratio !== undefined && ratio > 0 && ratio <= 1, 'memory usage is a ratio 0..1');

  // Host families: the root filesystem and the loopback interface.
  const root = find(e, 'outpost_host_filesystem_size_bytes', { mountpoint: '/' });
  t.equal(root.length, 1, 'a filesystem series for /');
  t.ok(root[0]?.value > 0 && root[0].labels.fstype, 'with its size and fstype');
  t.ok(find(e, 'outpost_host_filesystem_avail_bytes', { mountpoint: '/' })[0]?.value >= 0);
  t.ok(find(e, 'outpost_host_network_receive_bytes_total', { device: 'lo' })[0]?.value >= 0, 'the loopback interface is there');
  t.equal(find(e, 'outpost_host_network_transmit_packets_total', { device: 'lo' }).length, 1);
  t.ok(find(e, 'outpost_host_cpu_seconds_total', { mode: 'idle' })[0]?.value > 0, 'CPU time by mode');
  t.equal(e.types.get('outpost_host_disk_read_bytes_total') ?? 'counter', 'counter', 'disk I/O counters (when the host has a block device)');

  // The metrics token opens nothing else; the other keys still open /metrics.
  t.equal((await get(`${url}/api/v1/kv/prom/k1`, bearer(METRICS))).status, 403, 'metrics token refused on a data route');
  t.equal((await get(`${url}/api/v1/metrics`, bearer(METRICS))).status, 403, 'and on the JSON metrics of the data plane');
  t.equal((await get(`${url}/api/v1/agent/metrics/host`, bearer(METRICS))).status, 403);
  t.equal(await upgradeStatus(daemon.port, METRICS), 403, 'and on the WebSocket');
  t.equal(await upgradeStatus(daemon.port, API), 101, 'which the API key opens');
  t.equal((await get(`${url}/metrics`)).status, 401, 'no token: 401');
  t.equal((await get(`${url}/metrics`, bearer('x'.repeat(32)))).status, 401, 'wrong token: 401');
  t.equal((await get(`${url}/metrics`, bearer(API))).status, 200, 'API_KEY opens /metrics');
  t.equal((await get(`${url}/metrics`, bearer(MASTER))).status, 200, 'MASTER_KEY opens /metrics');

  // The histogram keeps counting: the scrapes above are /metrics GET 2xx.
  const again = await scrape(t, url);
  t.ok(find(again, 'outpost_http_request_duration_seconds_count', { route: '/metrics', method: 'GET', status_class: '2xx' })[0]?.value >= 3, 'scrapes are counted');
  t.ok(find(again, 'outpost_http_request_duration_seconds_count', { route, method: 'GET', status_class: '4xx' })[0]?.value >= 2, 'the 403s are 4xx');
});

t.test('admin /metrics: fleet gauges follow a node, admin request histogram, metrics token', async (t) => {
  t.setTimeout(60_000);
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0'], { MASTER_KEY: MASTER, METRICS_KEY: METRICS });
  const admin = daemon.admin!;
  const base = `http://127.0.0.1:${admin.port}`;
  const db = admin.store.db;
  const node = newId();
  await addNode({ admin, db, base, call: undefined as never }, node, { name: 'prom-node' });
  const cmd = newId();
  const at = iso();
  await db.insertInto('commands').values({ id: cmd, command_text: 'true', targeting: '{"type":"all"}', timeout: null, expired_at: null, inserted_at: at, updated_at: at }).execute();
  await db.insertInto('command_executions').values({
    id: newId(), command_id: cmd, node_id: node, cluster_name: null, target_all: 1 as const, status: 'pending', exit_code: null, output: null, sent_at: null, completed_at: null,
    cancelled_at: null, cancel_requested_at: null, timeout: null, expired_at: null, inserted_at: at, updated_at: at,
  }).execute();
  t.equal((await get(`${base}/api/v1/nodes`, bearer(MASTER))).status, 200);

  const gauge = async (name: string, labels: Record<string, string>) => {
    const r = await get(`${base}/metrics`, bearer(METRICS));
    const e = r.body.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
    return e === undefined ? undefined : Number(e.split(' ').pop());
  };
  await until('the new node counted unreachable', async () => (await gauge('outpost_admin_nodes', { status: 'unreachable' })) === 1, 20_000);
  t.equal(await gauge('outpost_admin_nodes', { status: 'healthy' }), 0, 'every known status is exported, 0 when empty');
  await db.updateTable('nodes').set({ status: 'healthy', tunnel_connected: 1, last_seen_at: iso() }).where('id', '=', node).execute();
  await until('the node counted healthy', async () => (await gauge('outpost_admin_nodes', { status: 'healthy' })) === 1, 20_000);
  t.equal(await gauge('outpost_admin_nodes', { status: 'unreachable' }), 0, 'and no longer unreachable');

  const e = await scrape(t, base);
  t.match(find(e, 'outpost_build_info')[0], { value: 1, labels: { role: 'admin', node_version: process.version } });
  t.equal(find(e, 'outpost_admin_nodes_tunnel_connected')[0]?.value, 1);
  t.equal(find(e, 'outpost_admin_command_executions', { state: 'pending' })[0]?.value, 1, 'executions by state');
  t.equal(find(e, 'outpost_admin_command_executions', { state: 'completed' })[0]?.value, 0);
  t.equal(find(e, 'outpost_admin_webhook_deliveries', { state: 'pending' })[0]?.value, 0, 'webhook queue');
  t.equal(find(e, 'outpost_admin_webhook_deliveries', { state: 'failed' })[0]?.value, 0);
  t.ok(find(e, 'outpost_admin_event_outbox_pending')[0]?.value >= 0, 'event outbox');
  t.equal(find(e, 'outpost_admin_webhook_deliveries_leased')[0]?.value, 0);
  t.ok(find(e, 'outpost_admin_job_runs_total', { job: 'fleet_metrics', outcome: 'ok' })[0]?.value >= 1, 'background jobs');
  t.equal(find(e, 'outpost_admin_tunnels_connected')[0]?.value, 0, 'no tunnel on this admin');
  t.equal(find(e, 'process_resident_memory_bytes').length, 1);
  t.equal(find(e, 'outpost_http_request_duration_seconds_count', { route: '/api/v1/nodes', method: 'GET', status_class: '2xx' })[0]?.value, 1, 'the admin request counted by route pattern');

  t.equal((await get(`${base}/api/v1/nodes`, bearer(METRICS))).status, 403, 'metrics token refused on an admin route');
  t.equal((await get(`${base}/api/v1/admins/me/metrics`, bearer(METRICS))).status, 403, 'and on the JSON admin metrics');
  t.equal((await get(`${base}/metrics`)).status, 401, 'no token: 401');
  t.equal((await get(`${base}/metrics`, bearer(MASTER))).status, 200, 'MASTER_KEY opens it too');
});

t.test('/proc parsers: mountinfo escapes and pseudo filesystems, whole disks only, every interface', async (t) => {
  const mounts = parseMountinfo([
    '26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '21 26 0:20 / /proc rw,relatime - proc proc rw',
    '30 26 0:25 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw',
    '40 26 0:30 / /dev/shm rw - tmpfs tmpfs rw',
    '41 26 0:31 / /mnt/my\\040data rw - xfs /dev/sdb1 rw',
    '42 26 0:32 / /run rw - tmpfs tmpfs rw',
    '43 26 0:33 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw',
    '44 26 254:0 / / rw,relatime - overlay overlay rw',
  ].join('\n'));
  t.same(mounts.map((m) => [m.mountpoint, m.fstype, m.device]), [
    ['/mnt/my data', 'xfs', '/dev/sdb1'], ['/run', 'tmpfs', 'tmpfs'], ['/', 'overlay', 'overlay'],
  ], 'escapes decoded; proc, cgroup, /dev and container layers left out; the visible mount of / kept');
  const disks = parseDiskstats([
    '   7       0 loop0 10 0 80 0 0 0 0 0 0 0 0',
    ' 254       0 vda 34760 12 2164938 100 199549 5 8039112 200 0 57736 300',
    ' 254       1 vda1 34000 12 2164000 100 199000 5 8039000 200 0 57000 300',
    ' 259       0 nvme0n1 5 0 16 0 7 0 24 0 0 3000 0',
    ' 259       1 nvme0n1p1 5 0 16 0 7 0 24 0 0 3000 0',
  ].join('\n'));
  t.same(disks, [
    { device: 'vda', reads_completed: 34760, read_bytes: 2164938 * 512, writes_completed: 199549, written_bytes: 8039112 * 512, io_time_seconds: 57.736 },
    { device: 'nvme0n1', reads_completed: 5, read_bytes: 16 * 512, writes_completed: 7, written_bytes: 24 * 512, io_time_seconds: 3 },
  ], 'partitions and loop devices left out, sectors are 512 bytes');
  const net = parseNetDev([
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo: 1026600    6156    0    0    0     0          0         0  1026600    6156    0    0    0     0       0          0',
    '  eth0: 500 4 1 2 0 0 0 0 700 5 3 4 0 0 0 0',
  ].join('\n'));
  t.same(net.map((n) => [n.device, n.receive_bytes, n.receive_errors, n.receive_drop, n.transmit_bytes, n.transmit_packets, n.transmit_errors, n.transmit_drop]), [
    ['lo', 1026600, 0, 0, 1026600, 6156, 0, 0], ['eth0', 500, 1, 2, 700, 5, 3, 4],
  ]);
  const cpu = parseProcStat('cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 100 0 50 800 50 0 0 0 0 0\n');
  t.match(cpu, { user: 1, system: 0.5, idle: 8, iowait: 0.5 });
  t.equal(busyRatio(cpu!), 0.15, 'since boot: busy / total');
  t.equal(busyRatio({ ...cpu!, user: 2, idle: 8.5 }, cpu), 2 / 3, 'between two readings');
});
