// The AsyncAPI document of the published events: served by the admin at /asyncapi.json with no
// key (like /openapi.json) even when MASTER_KEY is set, equal to the committed
// docs/asyncapi.json (`npm run openapi` writes both), one channel per catalog event type on the
// nats sink's subject, every $ref resolvable, and the prefix/stream settings reflected.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { EVENT_TYPES } from '../daemon/admin/store/events';
import { subjectFor } from '../plugins';
import { ROOT, startInProc } from './helpers/daemon';

/* eslint-disable @typescript-eslint/no-explicit-any */
const fetchDoc = async (args: string[], env: Record<string, string>) => {
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0', ...args], { MASTER_KEY: 'asyncapi-test-master-key', ...env });
  const r = await request(`http://127.0.0.1:${daemon.admin!.port}/asyncapi.json`);
  return { status: r.statusCode, doc: await r.body.json() as any };
};

function resolve(doc: any, ref: string): unknown {
  return ref.replace(/^#\//, '').split('/').reduce((o: any, k) => (o === undefined ? undefined : o[k]), doc);
}

t.test('served without a key, equal to docs/asyncapi.json, one channel per event type', async (t) => {
  const { status, doc } = await fetchDoc([], {});
  t.equal(status, 200);
  t.equal(doc.asyncapi, '2.6.0');
  const committed = JSON.parse(fs.readFileSync(path.join(ROOT, 'docs', 'asyncapi.json'), 'utf8'));
  t.same(committed, doc, 'run `npm run openapi` after changing the events or their schemas');
  t.same(Object.keys(doc.channels).sort(), EVENT_TYPES.map((e) => subjectFor('outpost.events', e)).sort());
  const refs: string[] = [];
  JSON.stringify(doc, (k, v) => { if (k === '$ref') refs.push(v); return v; });
  t.ok(refs.length > EVENT_TYPES.length * 2);
  t.same(refs.filter((r) => resolve(doc, r) === undefined), [], 'every $ref resolves');
  const op = doc.channels['outpost.events.edge.node.registered'].subscribe;
  t.match(op, { operationId: 'onEdgeNodeRegistered' });
  t.match(resolve(doc, op.message.$ref), { name: 'edge.node.registered', contentType: 'application/cloudevents+json' });
  t.same(doc.servers.nats, { url: 'nats://localhost:4222', protocol: 'nats', description: 'the NATS server of admin.nats_url' });
});

t.test('the settings shape the document; the server URL is shown without credentials', async (t) => {
  const { doc } = await fetchDoc([], { NATS_URL: 'nats://user:s3cret@127.0.0.1:1', NATS_SUBJECT_PREFIX: 'acme.edge', NATS_STREAM: 'ACME' });
  t.ok(doc.channels['acme.edge.edge.command_execution.completed']);
  t.equal(doc.servers.nats.url, 'nats://127.0.0.1:1');
  t.notMatch(JSON.stringify(doc), 's3cret');
  t.match(doc.info.description, /stream `ACME`/);
});
