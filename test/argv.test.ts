// argv of both programs on node:util parseArgs (daemon/argv.ts): switches work alone, as
// --x=false / --no-x (and, for outpostd, as --x true|false), and unknown options, value options
// without a value and bad switch values are one line naming the option plus a hint, exit 2.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { loadConfig, parseArgs } from '../daemon/config/config';
import { runCli } from './helpers/cli';
import { runDaemon, spawnDaemon, startInProc, tempDir } from './helpers/daemon';

const message = (fn: () => unknown): string => { try { fn(); return ''; } catch (err) { return (err as Error).message; } };

t.test('outpostd: a switch alone, =false, --no-, and the older "--x true"', async (t) => {
  let cfg = loadConfig(['--admin', '--admin-port', '4001'], {});
  t.equal(cfg.admin.enabled, true, '--admin alone turns it on');
  t.equal(cfg.admin.port, 4001, 'and the next flag is read as a flag, not as its value');
  t.equal(cfg.sources['admin.enabled'], 'flag');
  cfg = loadConfig(['--admin=false'], { OUTPOST_ADMIN: 'true' });
  t.equal(cfg.admin.enabled, false, '--admin=false beats the environment');
  t.equal(loadConfig(['--admin=true'], {}).admin.enabled, true, '--admin=true');
  t.equal(loadConfig(['--no-ssh-enabled'], {}).ssh.enabled, false, '--no-ssh-enabled');
  t.equal(loadConfig(['--ssh-enabled=0'], {}).ssh.enabled, false, '--ssh-enabled=0 (the spellings settings accept)');
  cfg = loadConfig(['--admin', 'true', '--proxy-enabled', 'false', '--api-port', '0'], {});
  t.equal(cfg.admin.enabled, true, '--admin true (npm start, systemd units) still works');
  t.equal(cfg.proxy.enabled, false, '--proxy-enabled false');
  t.equal(cfg.api_port, 0);
  t.equal(loadConfig(['--admin'], { OUTPOST_ADMIN: 'false' }).admin.enabled, true, 'flag > env');
  const a = parseArgs(['-h', '--wait-ready=5', '--config', 'x.toml']);
  t.same([a.help, a.waitReady, a.configFile], [true, 5, 'x.toml'], 'the fixed options');
});

t.test('outpostd: usage errors name the option and point to --help', async (t) => {
  t.equal(message(() => loadConfig(['--nope', '1'], {})), 'unknown option --nope (see outpostd --help)');
  t.equal(message(() => loadConfig(['--nope=hunter2'], {})), 'unknown option --nope (see outpostd --help)', 'the value of an unknown option is not echoed');
  t.equal(message(() => loadConfig(['--api-port'], {})), '--api-port needs a value (N) (see outpostd --help)');
  t.equal(message(() => loadConfig(['--data-dir', '--admin'], {})), '--data-dir needs a value (VALUE) (see outpostd --help)', 'a flag is not taken as a value');
  t.equal(message(() => loadConfig(['--admin', '4001'], {})), '--admin is a switch: write --admin, --admin=false or --no-admin (got "4001") (see outpostd --help)');
  t.equal(message(() => loadConfig(['--admin=maybe'], {})), '--admin is a switch: write --admin, --admin=false or --no-admin (got "maybe") (see outpostd --help)');
  t.equal(message(() => loadConfig(['--no-api-port'], {})), 'unknown option --no-api-port (see outpostd --help)', '--no- only for switches');
  t.equal(message(() => loadConfig(['--no-admin=1'], {})), '--no-admin takes no value (see outpostd --help)');
  t.equal(message(() => loadConfig(['stray'], {})), 'unexpected argument "stray" (see outpostd --help)');
  t.match(message(() => loadConfig(['--api-port', 'x'], {})), /^flag --api-port: api_port must be an integer \(got "x"\) \(see outpostd --help\)$/);
});

t.test('outpostd as a process: one line on stderr, exit 2; `--admin --admin-port N` starts', async (t) => {
  t.setTimeout(60_000);
  for (const [args, line] of [
    [['--bogus'], 'outpostd: unknown option --bogus (see outpostd --help)\n'],
    [['--log-level'], 'outpostd: --log-level needs a value (fatal|error|warn|info|debug|trace|silent) (see outpostd --help)\n'],
    [['--admin', '4001'], 'outpostd: --admin is a switch: write --admin, --admin=false or --no-admin (got "4001") (see outpostd --help)\n'],
  ] as const) {
    const r = await runDaemon([...args]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stderr, line, `${args.join(' ')}: one line`);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir, '--admin', '--admin-port', '0', '--log-level', 'info']);
  const m = d.stdout().match(/"port":(\d+)[^\n]*"msg":"admin listening"/);
  t.ok(m, 'the admin role is on');
  const r = await request(`http://127.0.0.1:${m![1]}/api/v1/event_types`);
  t.equal(r.statusCode, 200);
  await r.body.dump();
  t.ok(fs.existsSync(path.join(dataDir, 'admin.sqlite')));
  d.proc.kill('SIGTERM');
  t.same(await d.exited, { code: 0, signal: null });
});

t.test('outpost: switches alone, =false, --no-; usage errors are one line and a hint', async (t) => {
  t.setTimeout(60_000);
  const { url } = await startInProc(t);
  const u = ['--url', url];
  let r = await runCli(['kv', 'put', 'k', 'true', '--json', ...u]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^\{"key":"k","version":1/, '--json alone');
  r = await runCli(['kv', 'get', 'k', ...u]);
  t.equal(r.out, 'true', 'a switch does not take the next word: "true" was the value');
  r = await runCli(['kv', 'get', 'k', '--json=false', ...u]);
  t.equal(r.out, 'true', '--json=false');
  r = await runCli(['--json', 'kv', 'get', 'k', '--no-json', ...u]);
  t.equal(r.out, 'true', '--no-json after a global --json: the later one wins');
  r = await runCli(['kv', 'get', 'k', '--json=true', ...u]);
  t.match(r.out, /^\{"key":"k"/, '--json=true');

  const usage = async (args: string[], line: string) => {
    const x = await runCli(args);
    t.equal(x.code, 2, `${args.join(' ')}: exit 2`);
    t.equal(x.err, line, `${args.join(' ')}: one line and a hint`);
    t.equal(x.out, '');
  };
  await usage(['kv', 'get', 'k', '--bogus'], "outpost: unknown option --bogus\nrun 'outpost kv get --help' for usage\n");
  await usage(['--bogus=secret', 'kv'], "outpost: unknown option --bogus\nrun 'outpost --help' for usage\n");
  await usage(['kv', 'get', 'k', '--url'], "outpost: --url needs a value (URL)\nrun 'outpost kv get --help' for usage\n");
  await usage(['kv', 'get', 'k', '--url', '--json'], "outpost: --url needs a value (URL)\nrun 'outpost kv get --help' for usage\n");
  await usage(['kv', 'get', 'k', '-n'], "outpost: -n needs a value (NS)\nrun 'outpost kv get --help' for usage\n");
  await usage(['kv', 'get', 'k', '--json=maybe'], "outpost: --json is a switch: write --json, --json=false or --no-json (got \"maybe\")\nrun 'outpost kv get --help' for usage\n");
  await usage(['kv', 'get', 'k', '--no-url'], "outpost: unknown option --no-url\nrun 'outpost kv get --help' for usage\n");
  await usage(['run', '--all', '--filter', '--', 'ls'], "outpost: --filter needs a value (FIELD=VALUE[,…])\nrun 'outpost run --help' for usage\n");
});
