// Review finding on issue 11 item 2: an agent enrolling again with a new ENROLLMENT_KEY proves
// its node with its current api_token, but only to the admin it enrolled with. A key naming
// another admin (a mistake, or a crafted key) must never receive that token: the agent then
// enrolls without it (the admin makes a new node). Two real HTTP servers on loopback record
// the Authorization header each enrollment request carries.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { enroll, httpOrigin } from '../daemon/agent/tunnel/enroll';

interface Recorder { url: string; auth: Array<string | undefined>; close(): Promise<void> }

async function recorder(): Promise<Recorder> {
  const auth: Array<string | undefined> = [];
  const srv = http.createServer((req, res) => {
    auth.push(req.headers.authorization);
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { node_id: 'n1', api_token: 'n1.secret', tunnel_url: 'ws://127.0.0.1:1/api/v1/agent/tunnel', cluster_name: 'c', admin_url: 'x', reregistered: false } }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { url, auth, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

t.test('httpOrigin normalises ws/wss and default ports', async (t) => {
  t.equal(httpOrigin('ws://127.0.0.1:4000/api/v1/agent/tunnel'), 'http://127.0.0.1:4000');
  t.equal(httpOrigin('wss://admin.example/api'), 'https://admin.example:443');
  t.equal(httpOrigin('http://admin.example'), 'http://admin.example:80');
  t.equal(httpOrigin('not a url'), undefined);
});

t.test('the node token goes only to the admin the node enrolled with', async (t) => {
  t.setTimeout(20_000);
  const mine = await recorder();
  const other = await recorder();
  t.teardown(async () => { await mine.close(); await other.close(); });
  const identity = { node_id: '0b6f4a52-4c53-4c1e-9d0e-0c7b7d0e9a11', id_type: 'persistent' as const };
  const base = { identity, agentVersion: 'test', nodeToken: 'victim-token', tokenOrigins: [httpOrigin(mine.url)!] };

  await enroll({ ...base, key: { v: 1, urls: [mine.url], secret: 's' } });
  t.same(mine.auth, ['Bearer victim-token'], 'the same admin gets the proof');

  await enroll({ ...base, key: { v: 1, urls: [other.url], secret: 's' } });
  t.same(other.auth, [undefined], 'another admin never sees the token');

  await enroll({ ...base, tokenOrigins: undefined, key: { v: 1, urls: [mine.url], secret: 's' } });
  t.same(mine.auth, ['Bearer victim-token', undefined], 'no known origin: no token at all');
});
