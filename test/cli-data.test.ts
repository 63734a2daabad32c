// The data-plane verbs of the CLI against real daemons: queue enqueue/dequeue/ack/nack/stats,
// stream append/read/tail (and -F following new records), ts write/query, SSH recordings
// list/play (a real OpenSSH session recorded by the daemon), and `outpost ssh` building the
// ssh -J command for a node resolved by name.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { startInProc, tempDir } from './helpers/daemon';
import { startAdminApi, ADMIN_KEY } from './helpers/admin-api';
import { createUser, makeKey, MASTER, sshKey, startSshDaemon, eventually } from './helpers/ssh';

const CLI = path.resolve(__dirname, '..', 'daemon', 'cli', 'outpost.js');

interface Run { code: number | null; out: string; err: string }
function start(args: string[], env: NodeJS.ProcessEnv = {}, input = ''): { proc: ChildProcess; out: () => string; done: Promise<Run> } {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { err += d; });
  proc.stdin!.end(input);
  const done = new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`outpost ${args.join(' ')} timed out:\n${err}`)); }, 30_000);
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
  return { proc, out: () => out, done };
}
const cli = (args: string[], env: NodeJS.ProcessEnv = {}, input = '') => start(args, env, input).done;

t.setTimeout(300_000);

t.test('queue, stream, ts', async (t) => {
  const { url } = await startInProc(t);
  const env = { OUTPOST_URL: url };

  // queue
  let r = await cli(['queue', 'enqueue', 'jobs/build', 'first'], env);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, '1\n');
  r = await cli(['queue', 'enqueue', 'build', '-n', 'jobs', '-', '--priority', '5'], env, 'urgent');
  t.equal(r.out, '2\n');
  r = await cli(['queue', 'stats', 'jobs/build', '--json'], env);
  t.match(JSON.parse(r.out), { ready_count: 2 });
  r = await cli(['queue', 'dequeue', 'jobs/build', '--count', '2'], env);
  t.equal(r.out, '2\t1\turgent\n1\t1\tfirst\n', 'priority first; SEQ, deliveries, payload');
  r = await cli(['queue', 'ack', 'jobs/build', '2'], env);
  t.equal(r.out, 'acked 1\n');
  r = await cli(['queue', 'nack', 'jobs/build', '1', '99'], env);
  t.equal(r.code, 1, 'a sequence that is not leased is exit 1');
  t.equal(r.out, 'released 1; not leased: 99\n');
  r = await cli(['queue', 'dequeue', 'jobs/build', '--raw'], env);
  t.equal(r.out, 'first', '--raw prints the payload bytes');
  r = await cli(['queue', 'dequeue', 'jobs/build', '--wait-ms', '100'], env);
  t.equal(r.code, 1);
  t.match(r.err, /no message/);
  r = await cli(['queue', 'ack', 'jobs/build', 'x'], env);
  t.equal(r.code, 2);

  // stream: append, read, tail, and -F following what is appended later
  r = await cli(['stream', 'append', 'logs/app', 'one'], env);
  t.equal(r.out, '0\n');
  r = await cli(['stream', 'append', 'logs/app', '-', '--lines'], env, 'two\nthree\n');
  t.equal(r.out, '1..2\n');
  r = await cli(['stream', 'read', 'logs/app', '--raw'], env);
  t.equal(r.out, 'one\ntwo\nthree\n');
  r = await cli(['stream', 'read', 'logs/app', '--offset', '1', '--count', '1'], env);
  t.match(r.out, /^1\t\d{4}-\d\d-\d\dT[^\t]+\ttwo\n$/);
  r = await cli(['stream', 'tail', 'logs/app', '-l', '2', '--raw'], env);
  t.equal(r.out, 'two\nthree\n');
  const follow = start(['stream', 'tail', 'logs/app', '-l', '1', '-F', '--raw', '--poll-ms', '100'], env);
  await eventually(() => follow.out() === 'three\n', 20_000);
  r = await cli(['stream', 'append', 'logs/app', 'four'], env);
  await eventually(() => follow.out() === 'three\nfour\n', 20_000);
  follow.proc.kill('SIGINT');
  t.equal((await follow.done).code, 0, 'tail -F follows new records; Ctrl-C ends it');

  // ts
  const now = Math.floor(Date.now() / 1000);
  r = await cli(['ts', 'write', 'metrics', `cpu,host=a usage=1 ${now - 60}`, `cpu,host=a usage=3 ${now - 30}`, '--precision', 's'], env);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, '2\n');
  r = await cli(['ts', 'write', 'metrics', '-'], env, `cpu,host=b usage=5 ${(now - 10) * 1e9}\n`);
  t.equal(r.out, '1\n');
  r = await cli(['ts', 'query', 'metrics', 'cpu.usage{host=a}[1h]'], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, new RegExp(`^# cpu\\{host=a\\}\\.usage\nTIME\\s+VALUE\n${new Date((now - 60) * 1000).toISOString()}\\s+1\n${new Date((now - 30) * 1000).toISOString()}\\s+3\n$`));
  r = await cli(['ts', 'query', 'metrics', 'cpu.usage{host=b}[1h]', '--csv'], env);
  t.equal(r.out, `series,time,value\n"cpu{host=b}.usage",${new Date((now - 10) * 1000).toISOString()},5\n`);
  r = await cli(['ts', 'write', 'metrics', 'not line protocol'], env);
  t.equal(r.code, 1);
  t.match(r.err, /HTTP 400/);
  r = await cli(['ts', 'query', 'metrics', 'cpu.usage[1h'], env);
  t.equal(r.code, 1);
  t.match(r.err, /HTTP 400/);
});

t.test('recordings list and play', async (t) => {
  const d = await startSshDaemon(t);
  const k = makeKey(t);
  await createUser(t, d, 'alice', { keys: [k.pub] });
  const s = await sshKey(t, d, 'alice', k.key, 'echo recorded-output; sleep 0.3; echo second-line');
  t.equal(s.code, 0, s.stderr);
  const env = { OUTPOST_URL: d.url, MASTER_KEY: MASTER };
  const rec = await eventually(async () => (await d.api('GET', '/api/v1/agent/ssh_recordings')).body.recordings.find((x: any) => x.ended_at), 10_000);
  let r = await cli(['recordings', 'list'], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, new RegExp(`^ID\\s+KIND\\s+USER.*\\n${rec.id}\\s+exec\\s+alice\\s`));
  r = await cli(['recordings', 'play', rec.id, '--speed', '50'], env);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /recorded-output\r?\n(.|\n)*second-line/, 'the output, in order');
  r = await cli(['recordings', 'play', rec.id, '--raw'], env);
  t.match(JSON.parse(r.out.split('\n')[0]), { version: 2 }, '--raw is the asciicast file');
  r = await cli(['recordings', 'play', '20000101T000000000Z-00000000'], env);
  t.equal(r.code, 1);
  t.match(r.err, /HTTP 404/);
  r = await cli(['recordings', 'play', rec.id, '--speed', '0'], env);
  t.equal(r.code, 2);
});

t.test('ssh goes through the admin jump', async (t) => {
  const { base, enrollNode } = await startAdminApi(t, { dialect: 'sqlite' } as never);
  const id = await enrollNode('prod', { node_name: 'web-1' });
  const env = { OUTPOST_ADMIN_URL: base, MASTER_KEY: ADMIN_KEY, USER: 'ops' };
  let r = await cli(['ssh', 'deploy@web-1', '--print'], env);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, `ssh -J jump@127.0.0.1:4022 deploy@${id}\n`);
  r = await cli(['ssh', 'web-1', '--print', '--jump', 'ops@admin.example:2222', '-i', '/k', '--', 'uptime'], env);
  t.equal(r.out, `ssh -i /k -J ops@admin.example:2222 ops@${id} uptime\n`);
  r = await cli(['ssh', 'nobody', '--print'], env);
  t.equal(r.code, 1);
  t.match(r.err, /no node with the id, alias or name nobody/);
});
