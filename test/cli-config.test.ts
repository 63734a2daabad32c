// The CLI's contexts (config get-contexts / use-context / set-context, --context,
// $OUTPOST_CONTEXT), the CA bundle for https://, `outpost version` against a real admin and data
// plane, and shell completion generated from the command table (run in a real bash).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import t from 'tap';
import { startAdminApi, ADMIN_KEY } from './helpers/admin-api';
import { tempDir } from './helpers/daemon';
import { VERSION } from '../daemon/base/version';
import { runCli, type Run } from './helpers/cli';

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runCli(args, env, 30_000);

t.setTimeout(300_000);

t.test('contexts and version', async (t) => {
  const { base, daemon } = await startAdminApi(t, { dialect: 'sqlite' } as never);
  const dataUrl = `http://127.0.0.1:${daemon.port}`;
  const home = tempDir(t);
  const env = { HOME: home };
  const file = path.join(home, '.config', 'outpost', 'config.toml');

  let r = await cli(['config', 'get-contexts'], env);
  t.equal(r.code, 0);
  t.match(r.err, /no contexts in .*config\.toml/);
  r = await cli(['config', 'set-context', 'prod', '--url', base, '--token', ADMIN_KEY, '--data-url', dataUrl], env);
  t.equal(r.code, 0, r.err);
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the file holding tokens is 0600');
  r = await cli(['config', 'set-context', 'dead', '--url', 'http://127.0.0.1:1', '--token', 'x'], env);
  t.equal(r.code, 0, r.err);
  r = await cli(['config', 'get-contexts'], env);
  t.match(r.out, /^CURRENT\s+NAME\s+URL/);
  t.match(r.out, new RegExp(`\\*\\s+prod\\s+${base.replace(/\./g, '\\.')}\\s`), 'the first context became current');
  t.notMatch(r.out, new RegExp(ADMIN_KEY), 'tokens are not printed');

  r = await cli(['clusters', 'list'], env);
  t.equal(r.code, 0, `url and token from the current context: ${r.err}`);
  r = await cli(['clusters', 'list', '--context', 'dead'], env);
  t.equal(r.code, 3, '--context picks another context');
  r = await cli(['clusters', 'list'], { ...env, OUTPOST_CONTEXT: 'dead' });
  t.equal(r.code, 3, '$OUTPOST_CONTEXT too');
  r = await cli(['clusters', 'list', '--context', 'prod'], { ...env, OUTPOST_ADMIN_URL: 'http://127.0.0.1:1' });
  t.equal(r.code, 0, 'a context named by flag beats the environment');
  r = await cli(['clusters', 'list'], { ...env, OUTPOST_ADMIN_URL: 'http://127.0.0.1:1' });
  t.equal(r.code, 3, 'the environment beats the current context');
  r = await cli(['clusters', 'list', '--context', 'nope'], env);
  t.equal(r.code, 2);
  t.match(r.err, /no context named nope .*\(have: prod, dead\)/);

  // use-context edits current_context in place: comments stay.
  fs.writeFileSync(file, `# my fleets\n${fs.readFileSync(file, 'utf8')}`);
  r = await cli(['config', 'use-context', 'dead'], env);
  t.equal(r.code, 0, r.err);
  t.match(fs.readFileSync(file, 'utf8'), /^# my fleets\ncurrent_context = "dead"/);
  r = await cli(['config', 'current-context'], env);
  t.equal(r.out, 'dead\n');
  r = await cli(['config', 'use-context', 'nope'], env);
  t.equal(r.code, 1);
  r = await cli(['config', 'use-context', 'prod'], env);

  // version: the client's, the admin's and (data_url set) the data plane's.
  r = await cli(['version'], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, new RegExp(`^client: +outpost ${VERSION}\\nadmin: +outpostd ${VERSION} at ${base}\\ndata plane: +outpostd ${VERSION} at ${dataUrl}\\n$`));
  r = await cli(['version', '--json'], env);
  t.match(JSON.parse(r.out), { client: VERSION, admin: { version: VERSION }, data_plane: { version: VERSION } });
  r = await cli(['version', '--context', 'dead'], env);
  t.equal(r.code, 3, 'the only server asked is unreachable');
  t.match(r.out, /admin: +unknown \(cannot connect/);
  r = await cli(['version', '--client'], env);
  t.equal(r.out, `client:     outpost ${VERSION}\n`);

  // The flat form of older config files still works.
  fs.writeFileSync(file, `admin_url = "${base}"\ntoken = "${ADMIN_KEY}"\n`);
  r = await cli(['clusters', 'list'], env);
  t.equal(r.code, 0, r.err);
});

t.test('a CA bundle for https://', async (t) => {
  const dir = tempDir(t);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  // A TLS endpoint answering as an admin's /openapi.json does.
  const srv = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (_req, res) => { res.setHeader('content-type', 'application/json'); res.end('{"info":{"version":"9.9.9"}}'); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  const url = `https://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const env = { HOME: dir };
  let r = await cli(['version', '--url', url], env);
  t.equal(r.code, 3, 'an unknown CA is refused');
  t.match(r.out, /unknown \(cannot connect .*(certificate|self-signed|SELF_SIGNED)/i);
  r = await cli(['version', '--url', url, '--ca', cert], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /admin: +outpostd 9\.9\.9/);
  r = await cli(['version', '--url', url], { ...env, OUTPOST_CA: cert });
  t.match(r.out, /outpostd 9\.9\.9/, '$OUTPOST_CA');
  r = await cli(['config', 'set-context', 'tls', '--url', url, '--ca', cert], env);
  r = await cli(['version'], env);
  t.match(r.out, /outpostd 9\.9\.9/, 'ca of the context');
});

t.test('completion scripts come from the command table', async (t) => {
  const bash = await cli(['completion', 'bash']);
  t.equal(bash.code, 0);
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'c.bash'), bash.out);
  const complete = (...words: string[]) => execFileSync('bash', ['-c', `source ${dir}/c.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _outpost; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).trim();
  t.same(complete('outpost', 'ru').split(' '), ['run']);
  t.same(complete('outpost', 'kv', '').split(' '), ['get', 'put', 'del', 'scan']);
  t.same(complete('outpost', 'config', 'use').split(' '), ['use-context']);
  t.same(complete('outpost', 'kv', 'put', 'k', '--tt').split(' '), ['--ttl'], 'a subcommand\'s options');
  t.same(complete('outpost', '--url', 'x', 'nod').split(' '), ['nodes'], 'an option value is skipped');
  t.same(complete('outpost', 'run', '--cancel').split(' '), ['--cancel-unfinished']);
  t.same(complete('outpost', 'completion', 'f').split(' '), ['fish']);
  const zsh = await cli(['completion', 'zsh']);
  t.match(zsh.out, /^#compdef outpost\n.*bashcompinit/s);
  t.ok(zsh.out.includes(bash.out), 'zsh loads the same table');
  const fish = await cli(['completion', 'fish']);
  t.match(fish.out, /complete -c outpost -n "not __fish_seen_subcommand_from [^"]*\bkv\b[^"]*" -a kv/);
  t.match(fish.out, /complete -c outpost -n "__fish_seen_subcommand_from kv; and __fish_seen_subcommand_from put" -l ttl -r/);
  const bad = await cli(['completion', 'tcsh']);
  t.equal(bad.code, 2);
  t.match(bad.err, /unknown shell 'tcsh'/);
});
