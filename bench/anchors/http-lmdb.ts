// Anchor 2: node:http doing the daemon's GET work: one synchronous LMDB read of a prefilled
// 100-byte value, returned as JSON with the value in base64.
import http from 'node:http';
import { open } from 'lmdb';
import { anchorArgs, exitOnSignals, keyOf, ready } from './common';

const args = anchorArgs();
const env = open({ path: args.dataDir, compression: false, encoding: 'binary', overlappingSync: false, maxDbs: 2 });
const db = env.openDB<Buffer, string>({ name: 'kv', encoding: 'binary' });

const value = Buffer.alloc(args.valueBytes, 'x');
db.transactionSync(() => { for (let i = 0; i < args.keys; i++) db.putSync(`k${i}`, value); });

const notFound = '{"error":{"code":"not_found"}}';
const server = http.createServer((req, res) => {
  const key = keyOf(req.url ?? '/');
  const rec = db.getBinaryFast(key);
  if (rec === undefined) {
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': notFound.length });
    res.end(notFound);
    return;
  }
  const body = `{"key":${JSON.stringify(key)},"value":"${rec.toString('base64')}","version":1}`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(args.port, '127.0.0.1', () => {
  ready((server.address() as { port: number }).port, { keys: args.keys });
  exitOnSignals(() => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }).then(() => env.close()));
});
