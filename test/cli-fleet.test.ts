// The operator CLI against an admin (separate `outpost` processes, real HTTP): clusters, keys,
// nodes and aliases, SSH usernames, commands; tables and --json; config from flags, the
// environment and ~/.config/outpost/config.toml; the admin's 422 field details; exit codes.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startAdminApi, ADMIN_KEY } from './helpers/admin-api';
import { tempDir } from './helpers/daemon';
import { makeKey } from './helpers/ssh';
import { runCli, type Run } from './helpers/cli';

const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> => runCli(args, env, 60_000);

t.test('fleet commands against an admin', async (t) => {
  t.setTimeout(240_000);
  const { base, enrollNode } = await startAdminApi(t, { dialect: 'sqlite' } as never);
  const home = tempDir(t);
  const env = { HOME: home, OUTPOST_ADMIN_URL: base, MASTER_KEY: ADMIN_KEY };

  let r = await cli(['clusters', 'create', 'prod', '--node-limit', '5'], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /created cluster prod \(100\.64\.\d+\.0\/24\)/);
  r = await cli(['clusters', 'list'], env);
  t.match(r.out, /^NAME\s+NODES\s+LIMIT\s+IPV4 RANGE\s+CREATED\nprod\s+0\s+5\s+100\.64/m, 'a table');
  r = await cli(['clusters', 'set-limit', 'prod', 'none'], env);
  t.match(r.out, /node_limit none/);
  r = await cli(['clusters', 'get', 'prod', '--json'], env);
  t.equal(JSON.parse(r.out).node_limit, null, '--json prints the data');

  r = await cli(['clusters', 'create', 'default'], env);
  t.equal(r.code, 1, 'a refused request exits 1');
  t.match(r.err, /HTTP 422 validation_failed/);
  t.match(r.err, /\n {2}name: /, 'the field at fault is shown');

  r = await cli(['keys', 'create', '--cluster', 'prod', '--uses', 'unlimited', '--name', 'fleet'], env);
  t.equal(r.code, 0, r.err);
  const blob = r.out.trim();
  t.match(JSON.parse(Buffer.from(blob, 'base64').toString()), { v: 1, urls: [base] }, 'prints the ENROLLMENT_KEY blob');
  r = await cli(['keys', 'list'], env);
  t.match(r.out, /prod\s+fleet\s+unlimited/);

  const nodeId = await enrollNode('prod', { node_name: 'web-1' });
  r = await cli(['nodes', 'list', '--cluster', 'prod'], env);
  t.match(r.out, new RegExp(`${nodeId}\\s+web-1\\s+prod\\s+unreachable`));
  r = await cli(['nodes', 'alias', nodeId, 'frontdoor'], env);
  t.equal(r.code, 0, r.err);
  r = await cli(['nodes', 'aliases', '--json'], env);
  t.same(JSON.parse(r.out).map((a: { name: string }) => a.name), ['frontdoor']);
  r = await cli(['nodes', 'aliases'], env);
  t.match(r.out, /frontdoor\s+web-1\s+prod/, 'aliases show the node by name');
  // One resolver: id, alias or name wherever a node is taken.
  for (const ref of [nodeId, 'frontdoor', 'FrontDoor', 'web-1']) {
    r = await cli(['nodes', 'get', ref, '--json'], env);
    t.equal(r.code, 0, `nodes get ${ref}: ${r.err}`);
    t.equal(JSON.parse(r.out).id, nodeId, `nodes get ${ref}`);
  }
  r = await cli(['nodes', 'get', 'nobody'], env);
  t.equal(r.code, 1);
  t.match(r.err, /no node with the id, alias or name nobody/);
  const twin = await enrollNode('prod', { node_name: 'twin' });
  await enrollNode('staging', { node_name: 'twin' });
  r = await cli(['nodes', 'get', 'twin'], env);
  t.equal(r.code, 1);
  t.match(r.err, /node name twin is ambiguous .*use the id or an alias/);
  r = await cli(['nodes', 'delete', twin], env);
  t.equal(r.code, 0, r.err);
  r = await cli(['nodes', 'get', 'twin', '--json'], env);
  t.equal(r.code, 0, 'unambiguous once the other twin is gone');

  const key = makeKey(t);
  const keyFile = path.join(home, 'id.pub');
  fs.writeFileSync(keyFile, key.pub);
  r = await cli(['ssh-users', 'add', 'frontdoor', 'deploy', '--key', keyFile], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /created deploy on node frontdoor/);
  r = await cli(['ssh-users', 'list'], env);
  t.match(r.out, /deploy\s+/);

  // A command on a node that is not connected stays pending; it can be cancelled.
  r = await cli(['run', '--node', nodeId, '--wait', '1', '--quiet', '--', 'true'], env);
  t.equal(r.code, 4, 'gives up after --wait');
  t.match(r.err, /--wait 1 s is over/);
  r = await cli(['commands', 'executions', '--node', 'frontdoor'], env);
  t.match(r.out, /\n\S+\s+web-1\s+pending/, 'executions show node names');
  r = await cli(['ssh-users', 'list', '--node', 'web-1'], env);
  t.match(r.out, /deploy\s+web-1\s+1/, 'ssh-users by node name, shown by name');
  r = await cli(['commands', 'executions', '--json'], env);
  t.equal(r.code, 0, r.err);
  const [exec] = JSON.parse(r.out);
  t.equal(exec.status, 'pending');
  r = await cli(['commands', 'cancel', exec.id], env);
  t.equal(r.code, 0, r.err);
  r = await cli(['commands', 'execution', exec.id, '--json'], env);
  t.equal(JSON.parse(r.out).status, 'cancelled');

  r = await cli(['run', '--cluster', 'prod', '--filter', 'status=healthy', '--', 'true'], env);
  t.equal(r.code, 1, 'a targeting that matches no node fails at once');
  t.match(r.err, /matched no nodes/);

  // Settings from the config file; a bad file is a usage error; no admin is exit 3.
  fs.mkdirSync(path.join(home, '.config', 'outpost'), { recursive: true });
  fs.writeFileSync(path.join(home, '.config', 'outpost', 'config.toml'), `admin_url = "${base}"\ntoken = "${ADMIN_KEY}"\n`);
  r = await cli(['clusters', 'list'], { HOME: home });
  t.match(r.out, /prod/, 'admin_url and token from ~/.config/outpost/config.toml');
  r = await cli(['clusters', 'list'], { HOME: home, MASTER_KEY: 'wrong-key-wrong-key' });
  t.equal(r.code, 1);
  t.match(r.err, /HTTP 401/);
  fs.writeFileSync(path.join(home, '.config', 'outpost', 'config.toml'), 'colour = "blue"\n');
  r = await cli(['clusters', 'list'], { HOME: home });
  t.equal(r.code, 2);
  t.match(r.err, /unknown setting 'colour'/);
  fs.rmSync(path.join(home, '.config'), { recursive: true });
  r = await cli(['clusters', 'list', '--url', 'http://127.0.0.1:1'], env);
  t.equal(r.code, 3, `cannot connect: ${r.err}`);
});
