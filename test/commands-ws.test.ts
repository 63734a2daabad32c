// Live command output over the agent's WebSocket: chunks as the command prints them, then the
// final state; late subscribers get the output so far; MASTER_KEY only.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { WebSocket } from 'undici';
import { startInProc, tempDir } from './helpers/daemon';
import { ensureRunAs, MASTER, run, RUN_AS, shareDir, terminal, waitFor } from './helpers/commands';

ensureRunAs();

interface Client { ws: WebSocket; frames: any[]; next(pred: (f: any) => boolean, ms?: number): Promise<any>; send(o: unknown): void; closed: Promise<number> }

async function connect(url: string, token: string): Promise<Client> {
  const ws = new WebSocket(url.replace('http', 'ws') + '/api/v1/ws', { headers: { authorization: `Bearer ${token}` } } as never);
  const frames: any[] = [];
  const waiters: Array<{ pred: (f: any) => boolean; resolve: (f: any) => void }> = [];
  ws.addEventListener('message', (ev) => {
    const f = JSON.parse(String(ev.data));
    frames.push(f);
    for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
  });
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', (ev) => resolve(ev.code)));
  await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
  return {
    ws, frames, closed,
    send: (o) => ws.send(JSON.stringify(o)),
    next: (pred, ms = 10_000) => new Promise((resolve, reject) => {
      const hit = frames.find(pred);
      if (hit) { resolve(hit); return; }
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(frames.slice(-5))}`)), ms);
      waiters.push({ pred, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    }),
  };
}

const text = (frames: any[], id: string) => frames.filter((f) => f.type === 'command_output' && f.id === id).map((f) => f.data).join('');

t.test('a subscriber receives output chunks live, then the final status', async (t) => {
  t.setTimeout(30_000);
  const dir = shareDir(tempDir(t));
  const flag = path.join(dir, 'go');
  const { url } = await startInProc(t, ['--ssh-run-as', RUN_AS], { MASTER_KEY: MASTER });
  const e = await run(url, { command_text: `echo first\nwhile [ ! -e ${flag} ]; do sleep 0.05; done\necho second\nexit 4` });
  const c = await connect(url, MASTER);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 'o1', type: 'command_output', execution_id: e.id });
  await c.next((f) => f.type === 'subscribed' && f.id === 'o1');
  await c.next(() => text(c.frames, 'o1').includes('first\n'));
  t.notOk(c.frames.some((f) => f.type === 'command_status' && f.final), 'no final frame while it runs');
  t.notMatch(text(c.frames, 'o1'), /second/, 'second line not printed yet');
  fs.writeFileSync(flag, '');
  const fin = await c.next((f) => f.type === 'command_status' && f.final);
  t.match(fin, { id: 'o1', execution_id: e.id, status: 'completed', exit_code: 4, final: true });
  t.equal(fin.execution.id, e.id);
  t.equal(text(c.frames, 'o1'), 'first\nsecond\n', 'every chunk, once, in order, before the final frame');
  const finalIdx = c.frames.indexOf(fin);
  t.notOk(c.frames.slice(finalIdx + 1).some((f) => f.id === 'o1'), 'nothing after the final frame');
  const stored = await waitFor(url, e.id, terminal);
  t.equal(stored.output, 'first\nsecond\n', 'the stored output is what was streamed');

  // Subscribing to a finished execution: its output and the final state at once.
  c.send({ op: 'subscribe', id: 'o2', type: 'command_output', execution_id: e.id });
  const fin2 = await c.next((f) => f.type === 'command_status' && f.id === 'o2');
  t.equal(fin2.final, true);
  t.equal(text(c.frames, 'o2'), 'first\nsecond\n');

  // Unknown or missing execution ids are protocol errors, not subscriptions.
  c.send({ op: 'subscribe', id: 'bad', type: 'command_output', execution_id: '00000000-0000-4000-8000-000000000000' });
  const err = await c.next((f) => f.type === 'error' && f.id === 'bad');
  t.equal(err.error, 'not_found');
  t.notOk(c.frames.some((f) => f.type === 'subscribed' && f.id === 'bad'), 'an unknown execution is not subscribed');
  c.send({ op: 'subscribe', id: 'bad2', type: 'command_output' });
  t.equal((await c.next((f) => f.type === 'error' && f.id === 'bad2')).error, 'bad_request');
});

t.test('a late subscriber gets the output so far, then the rest', async (t) => {
  t.setTimeout(30_000);
  const dir = shareDir(tempDir(t));
  const flag = path.join(dir, 'go');
  const { url } = await startInProc(t, ['--ssh-run-as', RUN_AS], { MASTER_KEY: MASTER });
  const e = await run(url, { command_text: `echo early\nwhile [ ! -e ${flag} ]; do sleep 0.05; done\necho late` });
  await waitFor(url, e.id, (x) => x.status === 'sent' && x.output === 'early\n');
  const c = await connect(url, MASTER);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 's', type: 'command_output', execution_id: e.id });
  const st = await c.next((f) => f.type === 'command_status');
  t.match(st, { status: 'sent', final: false });
  await c.next(() => text(c.frames, 's') === 'early\n');
  fs.writeFileSync(flag, '');
  await c.next((f) => f.type === 'command_status' && f.final);
  t.equal(text(c.frames, 's'), 'early\nlate\n');
});

t.test('command output subscriptions need the MASTER_KEY', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, ['--ssh-run-as', RUN_AS], { MASTER_KEY: MASTER, API_KEY: 'data-key' });
  const e = await run(url, { command_text: 'echo secret' });
  await waitFor(url, e.id, terminal);
  const c = await connect(url, 'data-key');
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 'x', type: 'command_output', execution_id: e.id });
  const err = await c.next((f) => f.type === 'error' && f.id === 'x');
  t.equal(err.error, 'forbidden');
  t.notOk(c.frames.some((f) => f.type === 'command_output'), 'no output leaks to the data-plane key');
});
