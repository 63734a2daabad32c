// A new user's first `outpost run` on a fresh root host failed with "the account outpost named by
// ssh.run_as does not exist" while start-up had said nothing. Now start-up warns once, naming the
// account and the fix. (Not root: sessions run as the daemon's own user, nothing to check.)
import t from 'tap';
import { spawnDaemon, tempDir } from './helpers/daemon';

t.test('a missing ssh.run_as account is reported at start-up', async (t) => {
  t.setTimeout(30_000);
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t), '--ssh-run-as', 'no-such-account-x1', '--ssh-enabled', 'true', '--ssh-port', '0']);
  const warn = d.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => /named by ssh\.run_as does not exist/.test(l.msg ?? ''));
  if (process.getuid?.() === 0) {
    t.equal(warn?.level, 'warn', 'warned at start');
    t.match(warn?.msg, /"no-such-account-x1".*create it \(systemd\/install\.sh does\) or set ssh\.run_as.*SSH logins and fleet commands will fail/);
  } else {
    t.equal(warn, undefined, 'not root: sessions run as this user, no warning');
  }
});
