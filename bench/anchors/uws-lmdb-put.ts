// Anchor 3: the plain durable write. uWebSockets.js, parse the daemon's PUT body
// ({"value":"<base64>"}), `await db.put()` on an LMDB env that syncs before resolving
// (overlappingSync:false), then answer. lmdb-js batches concurrent puts into one commit.
import { open } from 'lmdb';
import { loadUws } from '../../native';
import { anchorArgs, exitOnSignals, keyOf, ready } from './common';

const args = anchorArgs();
const { uws, report } = loadUws();
if (report.backend !== 'native') throw new Error(`uWS is not native here: ${report.detail}`);
const env = open({ path: args.dataDir, compression: false, encoding: 'binary', overlappingSync: false, noSync: false, maxDbs: 2 });
const db = env.openDB<Buffer, string>({ name: 'kv', encoding: 'binary' });

const app = uws.App();
app.put('/*', (res, req) => {
  const key = keyOf(req.getUrl());
  let aborted = false;
  res.onAborted(() => { aborted = true; });
  let chunks: Buffer[] = [];
  res.onData((ab, isLast) => {
    const chunk = Buffer.from(new Uint8Array(ab.slice(0)));
    if (!isLast) { chunks.push(chunk); return; }
    const body = chunks.length ? Buffer.concat([...chunks, chunk]) : chunk;
    chunks = [];
    let value: Buffer;
    try {
      value = Buffer.from((JSON.parse(body.toString('utf8')) as { value: string }).value, 'base64');
    } catch {
      res.cork(() => res.writeStatus('400 Bad Request').end('{"error":"bad body"}'));
      return;
    }
    db.put(key, value).then(
      () => { if (!aborted) res.cork(() => res.writeHeader('content-type', 'application/json').end(`{"key":${JSON.stringify(key)},"version":1}`)); },
      () => { if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('{"error":"put failed"}')); },
    );
  });
});
app.get('/*', (res, req) => {
  const rec = db.getBinary(keyOf(req.getUrl()));
  if (rec === undefined) res.writeStatus('404 Not Found').end('{}');
  else res.writeHeader('content-type', 'application/json').end(`{"value":"${rec.toString('base64')}"}`);
});
app.listen('127.0.0.1', args.port, (ls) => {
  if (!ls) { process.stderr.write(`cannot listen on ${args.port}\n`); process.exit(1); }
  ready(uws.us_socket_local_port(ls as never), { uws: report.version, overlappingSync: false });
  exitOnSignals(async () => { uws.us_listen_socket_close(ls); await env.close(); });
});
