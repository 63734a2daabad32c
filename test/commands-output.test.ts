// The bounded output capture: CRLF from the terminal back to LF (also across chunk edges),
// head and tail kept on UTF-8 character boundaries, dropped bytes counted.
import t from 'tap';
import { OutputCapture } from '../daemon/agent/commands/output';

t.test('CRLF becomes LF, lone CRs stay, across chunk boundaries', async (t) => {
  const c = new OutputCapture(1 << 20);
  const live = [c.push(Buffer.from('a\r')), c.push(Buffer.from('\nb\r')), c.push(Buffer.from('c\r\n\r')), c.end()].map(String).join('');
  t.equal(live, 'a\nb\rc\n\r', 'what subscribers get');
  t.same(c.render(), { text: 'a\nb\rc\n\r', truncated: false, dropped: 0 });
});

t.test('under the cap everything is kept', async (t) => {
  const c = new OutputCapture(16);
  c.push(Buffer.from('0123456789abcdef'));
  t.same(c.render(), { text: '0123456789abcdef', truncated: false, dropped: 0 });
});

t.test('past the cap: head and tail halves, the middle counted', async (t) => {
  const c = new OutputCapture(8);
  for (const s of ['abc', 'def', 'ghij', 'klmn', 'op']) c.push(Buffer.from(s));
  const r = c.render();
  t.equal(r.truncated, true);
  t.equal(r.dropped, 16 - 8);
  t.equal(r.text, 'abcd\n[outpost: output truncated, 8 bytes dropped]\nmnop');
});

t.test('cuts never split a UTF-8 character', async (t) => {
  const c = new OutputCapture(8);
  // "é" is 2 bytes: head budget 4 = "aé" + 1 byte of "é"; the tail starts mid-character too.
  c.push(Buffer.from('aééé—zz'));
  const r = c.render();
  t.notMatch(r.text, /\uFFFD/, 'no replacement characters');
  t.equal(r.text, 'aé\n[outpost: output truncated, 7 bytes dropped]\nzz');
  t.equal(r.dropped, Buffer.byteLength('aééé—zz') - Buffer.byteLength('aézz'));
  const partial = new OutputCapture(1024);
  partial.push(Buffer.from('ok ').subarray(0, 3));
  partial.push(Buffer.from('é').subarray(0, 1));
  t.equal(partial.render(true).text, 'ok ', 'a snapshot leaves out a character still arriving');
});
