// The admin's SSH jump endpoint with the real OpenSSH client: `ssh -J` through it to a node's
// SSH server, by node id and by alias; an operator key not in authorized_keys, an unknown
// target and an unreachable node are refused and audited; authorized_keys edits apply at once.
// The tunnel is stood in for by a direct TCP connection to the node's SSH port here; the
// end-to-end test goes through the real tunnel.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { JumpServer, parseAuthorizedKeys } from '../daemon/admin/jump/server';
import { createLogger } from '../daemon/base/log';
import { tempDir } from './helpers/daemon';
import { createUser, makeKey, run, startSshDaemon, type Ran } from './helpers/ssh';

t.test('authorized_keys parsing: options, comments, bad lines', async (t) => {
  const k = makeKey(t).pub.trim();
  const { keys, errors } = parseAuthorizedKeys(`# operators\n\n${k}\nfrom="10.0.0.0/8",no-pty ${k.split(' ').slice(0, 2).join(' ')} alice@laptop\nssh-ed25519 !!!notbase64\ngarbage\n`);
  t.equal(keys.length, 2);
  t.equal(keys[1].comment, 'alice@laptop');
  t.match(keys[0].fingerprint, /^SHA256:/);
  t.equal(errors.length, 2);
});

t.test('ssh -J through the jump endpoint', async (t) => {
  t.setTimeout(120_000);
  const node = await startSshDaemon(t);
  const user = makeKey(t);
  await createUser(t, node, 'deploy', { keys: [user.pub] });
  const operator = makeKey(t);
  const stranger = makeKey(t);
  const dir = tempDir(t);
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, operator.pub.trim() + '\n');
  const nodeId = node.daemon.dataPlane.nodeId;
  let reachable = true;
  const jump = new JumpServer({
    dir, authorizedKeysFile: authorized, log: createLogger('silent'),
    async resolve(target) {
      if (target === nodeId || target === 'web-1' || target === 'web-alias') return { nodeId, name: 'web-1' };
      return undefined;
    },
    open: (id) => new Promise((resolve, reject) => {
      if (!reachable || id !== nodeId) return reject(new Error('node is not connected'));
      const s = net.connect(node.sshPort, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    }),
  });
  const port = await jump.listen('127.0.0.1', 0);
  t.teardown(() => jump.close());

  const config = (opKey: string) => {
    const file = path.join(dir, `ssh_config_${path.basename(opKey)}`);
    fs.writeFileSync(file, [
      'Host jump', '  HostName 127.0.0.1', `  Port ${port}`, '  User operator', `  IdentityFile ${opKey}`,
      'Host *', '  IdentitiesOnly yes', '  BatchMode yes', '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  LogLevel ERROR', '  ConnectTimeout 10',
      `  IdentityFile ${user.key}`,
    ].join('\n') + '\n');
    return file;
  };
  const jumpSsh = (opKey: string, target: string, cmd: string): Promise<Ran> => run(t, 'ssh', ['-F', config(opKey), '-J', 'jump', `deploy@${target}`, cmd]);

  let r = await jumpSsh(operator.key, 'web-1', 'echo hello from $(hostname) as $(id -un)');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^hello from .* as outpost-test\n$/, 'the node ran it as its run-as account');
  r = await jumpSsh(operator.key, 'web-alias', 'exit 5');
  t.equal(r.code, 5, 'by alias; exit status propagates');
  r = await jumpSsh(operator.key, nodeId, 'true');
  t.equal(r.code, 0, 'by node id');

  r = await jumpSsh(stranger.key, 'web-1', 'true');
  t.not(r.code, 0, 'an operator key not in authorized_keys is refused');
  r = await jumpSsh(operator.key, 'nope', 'true');
  t.not(r.code, 0, 'an unknown target is refused');
  reachable = false;
  r = await jumpSsh(operator.key, 'web-1', 'true');
  t.not(r.code, 0, 'an unreachable node is refused');
  reachable = true;

  // Adding the stranger's key to authorized_keys lets it in without a restart.
  fs.appendFileSync(authorized, stranger.pub.trim() + '\n');
  r = await jumpSsh(stranger.key, 'web-1', 'true');
  t.equal(r.code, 0, r.stderr);

  const audit = fs.readFileSync(path.join(dir, 'jump-audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const events = audit.map((e) => e.event);
  t.ok(events.includes('login_ok') && events.includes('forward') && events.includes('login_failed'), events.join(','));
  t.ok(audit.some((e) => e.event === 'forward_denied' && /no node/.test(e.reason)), 'unknown target audited');
  t.ok(audit.some((e) => e.event === 'forward_denied' && /unreachable/.test(e.reason)), 'unreachable node audited');
  t.ok(audit.filter((e) => e.event === 'forward').every((e) => e.node_id === nodeId && e.key_fingerprint), 'jumps name the node and the operator key');
  t.equal(jump.stats().jumps_total, 4);
});
