// Configuration precedence (file < env < flags), startup refusals, and bearer-token auth.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { ConfigError, loadConfig } from '../daemon/config/config';
import { checkBearer } from '../daemon/http';
import { b64, runDaemon, spawnDaemon, startInProc, tempDir } from './helpers/daemon';

t.test('precedence: defaults < file < env < flags', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'outpost.toml');
  fs.writeFileSync(file, 'api_port = 45001\nbind = "127.0.0.2"\n[core]\npartitions = 8\nworkers = 1\n[kv]\nreap_interval_ms = 250\n');
  let cfg = loadConfig(['--config', file], {});
  t.equal(cfg.api_port, 45001);
  t.equal(cfg.bind, '127.0.0.2');
  t.equal(cfg.core.partitions, 8);
  t.equal(cfg.core.workers, 1);
  t.equal(cfg.kv.reap_interval_ms, 250);
  t.equal(cfg.core.write_mode, 'main', 'defaults fill the rest');
  t.equal(cfg.data_dir, path.resolve('./data'));
  t.equal(cfg.sources['core.partitions'], 'file');
  cfg = loadConfig(['--config', file], { OUTPOST_API_PORT: '45002', OUTPOST_PARTITIONS: '2' });
  t.equal(cfg.api_port, 45002, 'env beats file');
  t.equal(cfg.core.partitions, 2);
  t.equal(cfg.sources.api_port, 'env');
  cfg = loadConfig(['--config', file, '--api-port', '45003', '--partitions=3'], { OUTPOST_API_PORT: '45002' });
  t.equal(cfg.api_port, 45003, 'flag beats env');
  t.equal(cfg.core.partitions, 3, '--flag=value form');
  t.equal(cfg.sources.api_port, 'flag');
  cfg = loadConfig([], { OUTPOST_CONFIG: file });
  t.equal(cfg.api_port, 45001, 'OUTPOST_CONFIG names the file too');
});

t.test('bad configuration is a clear error naming the source and setting', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'bad.toml');
  fs.writeFileSync(file, '[core]\npartitons = 4\n');
  t.throws(() => loadConfig(['--config', file], {}), { message: /unknown setting 'core.partitons'/ });
  fs.writeFileSync(file, 'api_port = "x"');
  t.throws(() => loadConfig(['--config', file], {}), { message: /config file .*api_port must be an integer/ });
  fs.writeFileSync(file, 'api_port = [');
  t.throws(() => loadConfig(['--config', file], {}), { message: /not valid TOML/ });
  t.throws(() => loadConfig(['--config', path.join(dir, 'missing.toml')], {}), { message: /cannot read config file/ });
  t.throws(() => loadConfig([], { OUTPOST_API_PORT: '70000' }), { message: /environment OUTPOST_API_PORT: api_port must be between 0 and 65535/ });
  t.throws(() => loadConfig(['--write-mode', 'fast'], {}), { message: /flag --write-mode: core.write_mode must be one of main, batch \(got "fast"\)/ });
  // The ablation's other designs live in bench/ablation/, not in the daemon.
  t.throws(() => loadConfig(['--write-mode', 'inline'], {}), { message: /must be one of main, batch \(got "inline"\)/ });
  t.throws(() => loadConfig(['--nope', '1'], {}), { message: /unknown option --nope/ });
  t.throws(() => loadConfig(['--api-port'], {}), { message: /--api-port needs a value/ });
  t.throws(() => loadConfig(['--bind', 'example.com'], {}), ConfigError);
});

t.test('no key on a non-loopback address: refused at startup', async (t) => {
  t.throws(() => loadConfig(['--bind', '0.0.0.0'], {}), { message: /refusing to listen on 0\.0\.0\.0 without authentication/ });
  t.throws(() => loadConfig(['--bind', '::'], {}), { message: /refusing/ });
  t.ok(loadConfig(['--bind', '0.0.0.0'], { API_KEY: 'k' }), 'allowed with a key');
  t.ok(loadConfig(['--bind', '127.0.0.5'], {}), 'any 127/8 address is loopback');
  const dataDir = tempDir(t);
  const r = await runDaemon(['--data-dir', dataDir, '--bind', '0.0.0.0', '--api-port', '0']);
  t.equal(r.code, 2, 'exit code 2');
  t.match(r.stderr, /refusing to listen on 0\.0\.0\.0 without authentication: set API_KEY or MASTER_KEY/);
  t.notOk(fs.existsSync(path.join(dataDir, 'meta.mdb')), 'nothing was started');
});

t.test('without keys: loud warning in the log', async (t) => {
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)]);
  t.match(d.stdout(), /"level":"warn"[^\n]*NO API KEY IS SET/);
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});

t.test('bearer tokens: API_KEY and MASTER_KEY, probes open', async (t) => {
  const { url } = await startInProc(t, [], { API_KEY: 'api-secret-1', MASTER_KEY: 'master-secret-2' });
  const get = (p: string, token?: string) => request(url + p, { headers: token ? { authorization: token } : {} }).then(async (r) => ({ status: r.statusCode, json: (await r.body.json()) as any }));
  let r = await get('/api/v1/namespaces');
  t.equal(r.status, 401);
  t.equal(r.json.error, 'unauthorized');
  t.equal((await get('/api/v1/namespaces', 'Bearer wrong')).status, 401);
  t.equal((await get('/api/v1/namespaces', 'Bearer api-secret-')).status, 401, 'a prefix of the key is not the key');
  t.equal((await get('/api/v1/namespaces', 'Bearer api-secret-11')).status, 401);
  t.equal((await get('/api/v1/namespaces', 'api-secret-1')).status, 401, 'the Bearer scheme is required');
  t.equal((await get('/api/v1/namespaces', 'Bearer api-secret-1')).status, 200);
  t.equal((await get('/api/v1/namespaces', 'bearer master-secret-2')).status, 200, 'scheme is case-insensitive; master works');
  t.equal((await get('/api/v1/kv/x/y', 'Bearer nope')).status, 401, 'KV is protected');
  t.equal((await get('/metrics')).status, 401, 'metrics are protected');
  r = await get('/api/v1/health');
  t.equal(r.status, 200, 'health needs no key');
  t.equal((await request(url + '/healthz')).statusCode, 200, 'healthz needs no key');
  const put = await request(url + '/api/v1/kv/x/y', { method: 'PUT', body: JSON.stringify({ value: b64('v') }), headers: { authorization: 'Bearer api-secret-1' } });
  t.equal(put.statusCode, 200);
  await put.body.dump();
});

t.test('with a key, every data-plane route but the two health probes needs it', async (t) => {
  const { url, daemon } = await startInProc(t, [], { API_KEY: 'api-secret-1' });
  const open = new Set(['GET /healthz', 'GET /api/v1/health']);
  let checked = 0;
  for (const spec of daemon.http.routes) {
    const p = spec.path.replace(/:([A-Za-z_]+)/g, 'x');
    const method = spec.method.toUpperCase();
    const r = await request(url + p, { method });
    await r.body.dump();
    const name = `${method} ${spec.path}`;
    if (open.has(name)) t.equal(r.statusCode, 200, `${name} is open`);
    else t.equal(r.statusCode, 401, `${name} needs the key`);
    checked++;
  }
  t.ok(checked > 30, `${checked} routes checked`);
  const doc = await request(url + '/openapi.json', { headers: { authorization: 'Bearer api-secret-1' } });
  t.equal(doc.statusCode, 200, '/openapi.json with the key');
  t.equal(((await doc.body.json()) as any).openapi, '3.1.0');
});

t.test('checkBearer scopes', async (t) => {
  const keys = { api: 'a', master: 'm' };
  t.equal(checkBearer(keys, 'Bearer a'), 'api');
  t.equal(checkBearer(keys, 'Bearer m'), 'master');
  t.equal(checkBearer(keys, 'Bearer  m '), 'master', 'surrounding spaces ignored');
  t.equal(checkBearer(keys, ''), 'none');
  t.equal(checkBearer({ api: 'a' }, 'Bearer m'), 'none');
});
