// The operator CLI (`outpost kv ...`) run as a real child process against a daemon.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { b64, ROOT, startInProc, tempDir } from './helpers/daemon';
import { sleep } from './helpers/wait';

const CLI = path.join(ROOT, 'dist', 'daemon', 'cli', 'outpost.js');

interface Run { code: number | null; stdout: Buffer; out: string; err: string }

/**
 * Runs the CLI asynchronously (the in-process daemon shares this event loop, so a sync spawn
 * would deadlock). The environment is minimal so a developer's API_KEY does not leak in.
 */
function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer | string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    proc.stdout.on('data', (d: Buffer) => out.push(d));
    proc.stderr.on('data', (d: Buffer) => { err += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`outpost ${args.join(' ')} still running after ${opts.timeoutMs ?? 15_000} ms`)); }, opts.timeoutMs ?? 15_000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      resolve({ code, stdout, out: stdout.toString('utf8'), err });
    });
    proc.stdin.end(opts.input ?? '');
  });
}

async function putDirect(url: string, ns: string, key: string, value: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await fetch(`${url}/api/v1/kv/${ns}/${encodeURIComponent(key)}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: b64(value), ...extra }),
  });
  if (r.status !== 200) throw new Error(`PUT ${key}: ${r.status} ${await r.text()}`);
}

/** A loopback port that nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

// Each case spawns a CLI process (about 0.3 s, several seconds on a loaded machine).
t.setTimeout(400_000);

t.test('help and usage errors', async (t) => {
  let r = await cli(['--help']);
  t.equal(r.code, 0);
  t.match(r.out, /usage: outpost/);
  t.match(r.out, /\bkv\b/);
  r = await cli(['kv', '--help']);
  t.equal(r.code, 0);
  for (const w of ['get', 'put', 'del', 'scan', '--ttl', '--cas', '--if-not-exists', '--all', '--namespace']) t.match(r.out, w);
  r = await cli(['help', 'kv']);
  t.equal(r.code, 0);
  t.match(r.out, /usage: outpost kv/);
  r = await cli(['--version']);
  t.equal(r.code, 0);
  t.match(r.out, /^outpost \d+\.\d+\.\d+/);

  // A usage error is one line and a hint, never the whole help.
  r = await cli(['frobnicate']);
  t.equal(r.code, 2, 'unknown command');
  t.equal(r.err, "outpost: unknown command 'frobnicate'\nrun 'outpost --help' for usage\n");
  t.equal(r.out, '', 'nothing on stdout');
  r = await cli([]);
  t.equal(r.code, 2, 'no command');
  t.equal(r.err, "outpost: missing command\nrun 'outpost --help' for usage\n");
  r = await cli(['kv', 'frob']);
  t.equal(r.code, 2);
  t.match(r.err, /^outpost: unknown kv command 'frob' \(get, put, del, scan\)\nrun 'outpost kv --help' for usage\n$/);
  r = await cli(['kv', 'get']);
  t.equal(r.code, 2);
  t.equal(r.err, "outpost: missing argument: outpost kv get [NS/]KEY\nrun 'outpost kv get --help' for usage\n");
  r = await cli(['run', '--all']);
  t.equal(r.code, 2);
  t.equal(r.err, "outpost: missing COMMAND (after --)\nrun 'outpost run --help' for usage\n");
  r = await cli(['nodes', 'get', 'a', 'b']);
  t.equal(r.err.split('\n').length, 3, 'two lines');
  t.match(r.err, /run 'outpost nodes get --help' for usage/);
  r = await cli(['kv', 'get', 'k', '--bogus']);
  t.equal(r.code, 2);
  t.match(r.err, /unknown option --bogus/);
  r = await cli(['kv', 'put', 'k']);
  t.equal(r.code, 2);
  t.match(r.err, /needs a VALUE/);
  r = await cli(['kv', 'put', 'k', 'v', '--ttl', 'soon']);
  t.equal(r.code, 2);
  t.match(r.err, /--ttl must be an integer/);
  r = await cli(['kv', 'get', 'k', '--url', 'not a url']);
  t.equal(r.code, 2);
  t.match(r.err, /not a valid URL/);
});

t.test('unreachable daemon exits 3', async (t) => {
  const port = await deadPort();
  const r = await cli(['kv', 'get', 'k', '--url', `http://127.0.0.1:${port}`]);
  t.equal(r.code, 3);
  t.match(r.err, /cannot connect to http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  const r2 = await cli(['kv', 'get', 'k'], { env: { OUTPOST_URL: `http://127.0.0.1:${port}` } });
  t.equal(r2.code, 3, 'OUTPOST_URL is the default URL');
});

t.test('kv against a daemon', async (t) => {
  const { url } = await startInProc(t);
  const dir = tempDir(t);
  const u = ['--url', url];

  t.test('put/get are binary-safe', async (t) => {
    const bytes = crypto.randomBytes(70_000);
    bytes[0] = 0; bytes[1] = 0x0a; bytes[2] = 0xff; // NUL, newline, invalid UTF-8
    const file = path.join(dir, 'blob.bin');
    fs.writeFileSync(file, bytes);
    let r = await cli(['kv', 'put', 'bin/blob', '--file', file, ...u]);
    t.equal(r.code, 0, r.err);
    t.equal(r.out, '1\n', 'prints the new version');
    r = await cli(['kv', 'get', 'bin/blob', ...u]);
    t.equal(r.code, 0, r.err);
    t.ok(r.stdout.equals(bytes), 'identical bytes back');
    r = await cli(['kv', 'get', 'blob', '-n', 'bin', ...u]);
    t.ok(r.stdout.equals(bytes), '-n NS form');
    r = await cli(['kv', 'get', 'bin/blob', '--json', ...u]);
    const j = JSON.parse(r.out);
    t.equal(j.key, 'blob');
    t.equal(j.version, 1);
    t.equal(j.ttl_remaining, null);
    t.ok(Buffer.from(j.value, 'base64').equals(bytes), '--json prints the raw response');

    // stdin
    r = await cli(['kv', 'put', 'bin/stdin', '-', ...u], { input: bytes });
    t.equal(r.code, 0, r.err);
    r = await cli(['kv', 'get', 'bin/stdin', ...u]);
    t.ok(r.stdout.equals(bytes), 'value from stdin');

    // a literal value, and keys with "/" under -n
    r = await cli(['kv', 'put', 'plain', 'héllo wörld', ...u]);
    t.equal(r.code, 0, r.err);
    r = await cli(['kv', 'get', 'default/plain', ...u]);
    t.equal(r.out, 'héllo wörld');
    r = await cli(['kv', 'put', '-n', 'paths', 'a/b c/d', 'x', ...u]);
    t.equal(r.code, 0, r.err);
    r = await cli(['kv', 'get', 'paths/a/b c/d', ...u]);
    t.equal(r.out, 'x', 'NS/KEY splits at the first slash only');
    r = await cli(['kv', 'put', 'k', 'v', '--file', file, ...u]);
    t.equal(r.code, 2, 'VALUE and --file together is a usage error');
  });

  t.test('ttl', async (t) => {
    const t0 = Date.now();
    let r = await cli(['kv', 'put', 'ttl/long', 'v', '--ttl', '60', ...u]);
    t.equal(r.code, 0, r.err);
    r = await cli(['kv', 'get', 'ttl/long', '--json', ...u]);
    const ttl = JSON.parse(r.out).ttl_remaining;
    // Rounded up, so at most 60; at least what is left after the time these two commands took.
    const floor = 60 - Math.ceil((Date.now() - t0) / 1000);
    t.ok(ttl >= floor && ttl <= 60, `ttl_remaining ${ttl} in ${floor}..60`);
    r = await cli(['kv', 'put', 'ttl/short', 'v', '--ttl', '1', ...u]);
    t.equal(r.code, 0, r.err);
    r = await cli(['kv', 'scan', 'ttl', ...u]);
    // The short key may be gone already when the machine is loaded; the long one counts down.
    const m = /^long\t1\t(\d+)\n(short\t1\t1\n)?$/.exec(r.out);
    t.ok(m && Number(m[1]) <= 60 && Number(m[1]) >= 60 - Math.ceil((Date.now() - t0) / 1000), `scan shows the TTLs: ${r.out}`);
    await sleep(2100); // on purpose: the 1 s TTL runs out (whole seconds, rounded up)
    r = await cli(['kv', 'get', 'ttl/short', ...u]);
    t.equal(r.code, 1, 'expired');
    t.match(r.err, /not found/);
  });

  t.test('cas and if-not-exists', async (t) => {
    let r = await cli(['kv', 'put', 'cas/k', 'one', ...u]);
    t.equal(r.out, '1\n');
    r = await cli(['kv', 'put', 'cas/k', 'two', '--cas', '1', ...u]);
    t.equal(r.code, 0, r.err);
    t.equal(r.out, '2\n');
    r = await cli(['kv', 'put', 'cas/k', 'three', '--cas', '1', ...u]);
    t.equal(r.code, 1, 'conflict exits 1');
    t.equal(r.out, '');
    t.match(r.err, /^outpost: key 'k' is at version 2 \(HTTP 409 conflict\)/, "the server's message");
    r = await cli(['kv', 'put', 'cas/k', 'again', '--if-not-exists', ...u]);
    t.equal(r.code, 1);
    t.match(r.err, /409 conflict/);
    r = await cli(['kv', 'put', 'cas/new', 'v', '--if-not-exists', ...u]);
    t.equal(r.code, 0);
    r = await cli(['kv', 'put', 'cas/absent', 'v', '--cas', '0', ...u]);
    t.equal(r.code, 0, '--cas 0 = create only');
    r = await cli(['kv', 'get', 'cas/k', ...u]);
    t.equal(r.out, 'two');
  });

  t.test('del', async (t) => {
    await putDirect(url, 'd', 'k', 'v');
    await putDirect(url, 'd', 'k', 'v2');
    let r = await cli(['kv', 'del', 'd/k', '--cas', '1', ...u]);
    t.equal(r.code, 1, 'cas mismatch');
    t.match(r.err, /409/);
    r = await cli(['kv', 'del', 'd/k', '--cas', '2', ...u]);
    t.equal(r.code, 0, r.err);
    t.equal(r.out, '2\n');
    r = await cli(['kv', 'get', 'd/k', ...u]);
    t.equal(r.code, 1);
    t.match(r.err, /key 'k' not found in namespace 'd' \(HTTP 404 not_found\)/);
    r = await cli(['kv', 'del', 'd/k', ...u]);
    t.equal(r.code, 1, 'deleting a missing key');
    r = await cli(['kv', 'get', 'nosuchns/k', ...u]);
    t.equal(r.code, 1);
    t.match(r.err, /namespace 'nosuchns'/);
  });

  t.test('scan pages', async (t) => {
    const keys = Array.from({ length: 23 }, (_, i) => `item-${String(i).padStart(2, '0')}`);
    for (const k of keys) await putDirect(url, 'sc', k, `val ${k}`);
    const tOther = Date.now();
    await putDirect(url, 'sc', 'other', 'x', { ttl_seconds: 300 });
    await putDirect(url, 'sc', 'zbin', '\u0000\u0001');

    let r = await cli(['kv', 'scan', 'sc', '--prefix', 'item-', '--limit', '5', '--all', ...u]);
    t.equal(r.code, 0, r.err);
    t.equal(r.out, keys.map((k) => `${k}\t1\t-\n`).join(''), '5 pages, every key once, in order');
    t.equal(r.err, '');

    r = await cli(['kv', 'scan', '-n', 'sc', '-p', 'item-', '-l', '5', ...u]);
    t.equal(r.out.split('\n').filter(Boolean).length, 5, 'one page without --all');
    const m = r.err.match(/--cursor (\S+)/);
    t.ok(m, 'says more keys follow');
    r = await cli(['kv', 'scan', 'sc', '-p', 'item-', '-l', '100', '--cursor', m![1], ...u]);
    t.equal(r.out.split('\n').filter(Boolean).length, 18, 'the rest from the cursor');

    r = await cli(['kv', 'scan', 'sc', '--all', '--limit', '7', '--values', ...u]);
    const lines = r.out.trimEnd().split('\n');
    t.equal(lines.length, 25);
    t.equal(lines[0], 'item-00\t1\t-\tval item-00');
    const [, otherTtl] = /^other\t1\t(\d+)\tx$/.exec(lines[23]) ?? [];
    const otherFloor = 300 - Math.ceil((Date.now() - tOther) / 1000);
    t.ok(Number(otherTtl) >= otherFloor && Number(otherTtl) <= 300, `ttl column ${otherTtl} in ${otherFloor}..300`);
    t.equal(lines[24], `zbin\t1\t-\tbase64:${b64('\u0000\u0001')}`);

    r = await cli(['kv', 'scan', 'sc', '--all', '--limit', '10', '--json', '--values', ...u]);
    const objs = r.out.trimEnd().split('\n').map((l) => JSON.parse(l));
    t.equal(objs.length, 25, 'JSON lines');
    t.same(objs[0], { key: 'item-00', value: b64('val item-00'), version: 1, ttl_remaining: null });
    r = await cli(['kv', 'scan', 'sc', '--json', '-p', 'oth', ...u]);
    t.same(JSON.parse(r.out), { key: 'other', version: 1, ttl_remaining: JSON.parse(r.out).ttl_remaining }, 'no value without --values');

    r = await cli(['kv', 'scan', 'missing-ns', '--all', ...u]);
    t.equal(r.code, 1);
    t.match(r.err, /namespace 'missing-ns'/);
    r = await cli(['kv', 'scan', 'sc', '--limit', '0', ...u]);
    t.equal(r.code, 2);
  });
});

t.test('token handling', async (t) => {
  const { url } = await startInProc(t, [], { API_KEY: 'k-secret' });
  const u = ['--url', url];
  let r = await cli(['kv', 'put', 'auth/x', 'v', ...u]);
  t.equal(r.code, 1, 'missing token');
  t.match(r.err, /HTTP 401 unauthorized/);
  t.match(r.err, /requires a token: pass --token, set \$OUTPOST_TOKEN/);
  r = await cli(['kv', 'put', 'auth/x', 'v', '--token', 'wrong', ...u]);
  t.equal(r.code, 1);
  t.match(r.err, /rejected the token/);
  r = await cli(['kv', 'put', 'auth/x', 'v', '--token', 'k-secret', ...u]);
  t.equal(r.code, 0, r.err);
  r = await cli(['kv', 'get', 'auth/x', ...u], { env: { API_KEY: 'k-secret' } });
  t.equal(r.code, 0, 'API_KEY from the environment');
  t.equal(r.out, 'v');
  r = await cli(['kv', 'get', 'auth/x', ...u], { env: { MASTER_KEY: 'k-secret' } });
  t.equal(r.code, 0, 'MASTER_KEY as a fallback');
  r = await cli(['--token', 'k-secret', '--url', url, 'kv', 'scan', 'auth']);
  t.equal(r.code, 0, 'global options before the command');
  t.equal(r.out, 'x\t1\t-\n');

  // One precedence, the same as the admin commands: flag > environment > config context.
  const home = tempDir(t);
  fs.mkdirSync(path.join(home, '.config', 'outpost'), { recursive: true });
  const cfgFile = path.join(home, '.config', 'outpost', 'config.toml');
  fs.writeFileSync(cfgFile, `current_context = "dev"\n[contexts.dev]\nurl = "http://127.0.0.1:1"\ndata_url = "${url}"\ntoken = "k-secret"\n`);
  r = await cli(['kv', 'get', 'auth/x'], { env: { HOME: home } });
  t.equal(r.code, 0, `data_url and token from the current context: ${r.err}`);
  r = await cli(['kv', 'get', 'auth/x'], { env: { HOME: home, OUTPOST_TOKEN: 'wrong' } });
  t.equal(r.code, 1, 'the environment beats the config file');
  r = await cli(['kv', 'get', 'auth/x'], { env: { HOME: home, API_KEY: 'wrong', MASTER_KEY: 'k-secret' } });
  t.equal(r.code, 0, '$MASTER_KEY before $API_KEY, as for the admin commands');
  r = await cli(['kv', 'get', 'auth/x', '--token', 'k-secret'], { env: { HOME: home, OUTPOST_TOKEN: 'wrong' } });
  t.equal(r.code, 0, 'the flag beats the environment');
});

t.test('kv get ends with a newline on a terminal only', async (t) => {
  const { url } = await startInProc(t);
  await putDirect(url, 'default', 'nl', 'no newline');
  let r = await cli(['kv', 'get', 'nl', '--url', url]);
  t.equal(r.out, 'no newline', 'exact bytes in a pipe');
  // script(1) gives the CLI a pseudo-terminal as stdout.
  const cmd = [process.execPath, CLI, 'kv', 'get', 'nl', '--url', url].map((a) => `'${a}'`).join(' ');
  r = await new Promise<Run>((resolve, reject) => {
    const p = spawn('script', ['-qec', cmd, '/dev/null'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('script timed out')); }, 15_000);
    p.on('close', (code) => { clearTimeout(timer); const b = Buffer.concat(out); resolve({ code, stdout: b, out: b.toString(), err: '' }); });
    p.stdin.end();
  });
  t.equal(r.code, 0);
  t.equal(r.out, 'no newline\r\n', 'a newline (CRLF through the terminal) after the value');
});
