// The admin's store of live command output (daemon/admin/commands/live-output.ts): pieces are
// read under the node the store gives the execution (a node cannot write into another node's
// view), repeats and overlaps are trimmed by byte offset, gaps stay visible, memory is bounded,
// and a long-poll wakes on the next piece.
import t from 'tap';
import { LiveOutput } from '../daemon/admin/commands/live-output';

t.test('isolation, overlap, gaps', async (t) => {
  const l = new LiveOutput();
  l.append('node-a', 'exec-1', 0, 'hello ');
  l.append('node-b', 'exec-1', 0, 'forged by another node');
  let r = l.read([{ id: 'exec-1', node_id: 'node-a' }], 0);
  t.same(r.chunks.map((c) => c.data), ['hello '], 'only the pieces sent by the execution\'s own node');
  l.append('node-a', 'exec-1', 0, 'hello wörld'); // a resumed agent re-sends from 0
  l.append('node-a', 'exec-1', 0, 'hello ');
  r = l.read([{ id: 'exec-1', node_id: 'node-a' }], r.cursor);
  t.same(r.chunks, [{ execution_id: 'exec-1', node_id: 'node-a', offset: 6, data: 'wörld' }], 'only the new bytes, by offset');
  l.append('node-a', 'exec-1', 100, 'after a gap');
  r = l.read([{ id: 'exec-1', node_id: 'node-a' }], r.cursor);
  t.equal(r.chunks[0].offset, 100, 'a gap shows in the offset');
  t.same(l.read([{ id: 'exec-1', node_id: null }], 0).chunks, [], 'a deleted node has no view');
});

t.test('bounded memory', async (t) => {
  const l = new LiveOutput({ perExecutionBytes: 10, totalBytes: 25 });
  for (let i = 0; i < 5; i++) l.append('n', 'e1', i * 4, 'abcd');
  t.ok(l.bytes <= 10 + 4, 'per execution: the newest pieces are kept');
  const r = l.read([{ id: 'e1', node_id: 'n' }], 0);
  t.equal(r.chunks[r.chunks.length - 1].offset, 16);
  for (let e = 2; e < 8; e++) l.append('n', `e${e}`, 0, 'x'.repeat(8));
  t.ok(l.bytes <= 25, `in total (${l.bytes} bytes)`);
  const idle = new LiveOutput({ idleMs: 1 });
  idle.append('n', 'e', 0, 'x');
  idle.sweep(Date.now() + 10);
  t.equal(idle.size, 0, 'idle entries are swept');
});

t.test('a long-poll wakes on the next piece', async (t) => {
  const l = new LiveOutput();
  const waiting = l.wait(30_000);
  setImmediate(() => l.append('n', 'e', 0, 'x'));
  await waiting;
  t.equal(l.read([{ id: 'e', node_id: 'n' }], 0).chunks.length, 1);
  const ac = new AbortController();
  const aborted = l.wait(30_000, ac.signal);
  ac.abort();
  await aborted;
  t.pass('an aborted request stops waiting');
});
