// Found trying Outpost as a new user (issue 11): a second daemon on the same data dir with other
// ports started, and the two agents' tunnels replaced each other forever. Now the data dir is
// taken by one daemon (data_dir/outpostd.pid); a pid file left by a SIGKILLed daemon is taken over.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MAIN, spawnDaemon, tempDir } from './helpers/daemon';

function runToExit(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, '--api-port', '0', '--ssh-enabled', 'false', '--proxy-enabled', 'false', ...args], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, err }); });
  });
}

t.test('one daemon per data dir; a dead holder is taken over', async (t) => {
  t.setTimeout(60_000);
  const dir = tempDir(t);
  const first = await spawnDaemon(t, ['--data-dir', dir]);
  t.equal(fs.readFileSync(path.join(dir, 'outpostd.pid'), 'utf8').trim(), String(first.proc.pid), 'the pid file names the holder');
  const second = await runToExit(['--data-dir', dir]);
  t.not(second.code, 0, 'a second daemon on the same data dir exits non-zero');
  t.match(second.err, new RegExp(`data_dir .* is in use by another outpostd \\(pid ${first.proc.pid}`), 'naming the holder');
  t.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first keeps serving');

  first.proc.kill('SIGKILL');
  await first.exited;
  t.ok(fs.existsSync(path.join(dir, 'outpostd.pid')), 'SIGKILL leaves the pid file behind');
  const again = await spawnDaemon(t, ['--data-dir', dir]);
  t.equal((await fetch(`${again.url}/healthz`)).status, 200, 'a new daemon takes over a dead holder\'s data dir');
  again.proc.kill('SIGTERM');
  t.equal((await again.exited).code, 0);
  t.notOk(fs.existsSync(path.join(dir, 'outpostd.pid')), 'a clean shutdown removes the pid file');
});
