// The SSH audit log's size-based rotation (daemon/security/audit.ts): past maxBytes the file
// moves to .1 (older ones shift up, the oldest beyond `keep` is dropped), every line stays whole
// and in one file, nothing within the kept files is lost, and an externally truncated log
// (logrotate copytruncate) is not rotated again.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { AuditLog } from '../daemon/security/audit';
import { tempDir } from './helpers/daemon';

const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { n: number }) : []);

t.test('rotates past maxBytes and keeps `keep` old files', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'audit.log');
  const log = new AuditLog(file, 1000, 3);
  for (let n = 0; n < 200; n++) log.write({ event: 'exec', user: 'alice', command: 'x'.repeat(20), n });
  log.close();
  const names = fs.readdirSync(dir).sort();
  t.same(names, ['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3'], 'the live file and 3 old ones');
  for (const f of names) t.ok(fs.statSync(path.join(dir, f)).size <= 1000, `${f} within maxBytes`);
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'the new file is 0600 too');
  // Oldest to newest: .3, .2, .1, live — consecutive numbers ending at 199.
  const seq = [...lines(`${file}.3`), ...lines(`${file}.2`), ...lines(`${file}.1`), ...lines(file)].map((l) => l.n);
  t.equal(seq.at(-1), 199);
  t.same(seq, seq.map((_, i) => seq[0] + i), 'no line lost or split within the kept files');
});

t.test('0 never rotates; an externally truncated file is not rotated again', async (t) => {
  const dir = tempDir(t);
  const never = new AuditLog(path.join(dir, 'a.log'), 0);
  for (let n = 0; n < 100; n++) never.write({ event: 'exec', n });
  never.close();
  t.same(fs.readdirSync(dir), ['a.log']);
  const file = path.join(dir, 'b.log');
  const log = new AuditLog(file, 700, 2);
  for (let n = 0; n < 10; n++) log.write({ event: 'exec', n });
  fs.truncateSync(file, 0); // what logrotate's copytruncate does
  for (let n = 10; n < 20; n++) log.write({ event: 'exec', n });
  log.close();
  t.notOk(fs.existsSync(`${file}.1`), 'no rotation: the file is small again');
  t.same(lines(file).map((l) => l.n).slice(-3), [17, 18, 19]);
});
