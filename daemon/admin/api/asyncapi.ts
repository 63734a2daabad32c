// The AsyncAPI 2.6 document of the events the admin publishes to NATS JetStream: one channel
// per event type of the catalog (subject `<prefix>.<type>`, the nats sink's mapping), each a
// CloudEvents 1.0 structured-mode message whose `data` schema is below. Served at
// /asyncapi.json beside /openapi.json (public, like it) and written to docs/asyncapi.json by
// `npm run openapi` (test/docs.test.ts compares them). The `data` schemas are the shapes the
// emitting code writes (store/enroll.ts, store/status.ts, commands/store.ts, tunnel-backend.ts);
// test/nats-sink.test.ts validates published events against them.
import { subjectFor } from '../../../plugins';
import type { Config } from '../../config/config';
import type { HttpServer, Req, Res } from '../../http';
import { VERSION } from '../../base/version';
import { EVENT_TYPES, type EventType } from '../store/events';

type Schema = Record<string, unknown>;
const str: Schema = { type: 'string' };
const nstr: Schema = { type: ['string', 'null'] };
const obj = (required: string[], properties: Record<string, Schema>): Schema => ({ type: 'object', required, properties, additionalProperties: true });

const nodeStatus: Schema = { type: 'string', enum: ['healthy', 'unhealthy', 'unreachable', 'offline'], description: '`offline` only in events written before migration 0007' };
const execution = (status: string): Schema => obj(['execution_id', 'command_id', 'node_id', 'status'], {
  execution_id: str, command_id: str, node_id: nstr, cluster_name: nstr,
  status: { type: 'string', description: `the execution's status (${status})` }, exit_code: { type: ['integer', 'null'] },
});
const free = (what: string): Schema => ({ type: 'object', additionalProperties: true, description: `${what} (in the catalog; this admin does not emit it yet)` });

/** Each catalog type: when it is raised, and the schema of its `data`. */
export const EVENT_DATA: Record<EventType, { summary: string; data: Schema }> = {
  'edge.enrollment_key.verified': { summary: 'an agent enrolled with an enrollment key', data: obj(['enrollment_key_id', 'cluster_name', 'node_id'], { enrollment_key_id: str, cluster_name: str, node_id: str, uses_remaining: { type: ['integer', 'null'] } }) },
  'edge.node.registered': { summary: 'a node enrolled for the first time', data: obj(['node_id', 'cluster_name'], { node_id: str, cluster_name: str, id_type: str, version: nstr }) },
  'edge.node.reregistered': { summary: 'a known node enrolled again, proving it with its api_token', data: obj(['node_id', 'cluster_name'], { node_id: str, cluster_name: str, version: nstr }) },
  'edge.node.version_changed': { summary: 'a node reports a new agent version', data: obj(['node_id', 'version'], { node_id: str, cluster_name: nstr, previous_version: nstr, version: nstr }) },
  'edge.node.status_changed': { summary: 'healthy / unhealthy / unreachable changed', data: obj(['node_id', 'previous_status', 'status'], { node_id: str, cluster_name: nstr, previous_status: nodeStatus, status: nodeStatus }) },
  'edge.node.cluster_changed': { summary: 'a node moved to another cluster', data: obj(['node_id', 'previous_cluster_name', 'cluster_name'], { node_id: str, previous_cluster_name: str, cluster_name: str }) },
  'edge.node.update_triggered': { summary: 'a self-update was triggered on a node', data: free('the node and the update') },
  'edge.command_execution.created': { summary: 'an execution was created for a node', data: execution('pending') },
  'edge.command_execution.sent': { summary: 'an execution was delivered to its node', data: execution('sent') },
  'edge.command_execution.completed': { summary: 'an execution finished (any exit code)', data: execution('completed or failed') },
  'edge.command_execution.cancelled': { summary: 'an execution was cancelled', data: execution('cancelled') },
  'edge.command_execution.expired': { summary: 'an execution expired before it ran', data: execution('expired') },
  'edge.command_execution.pruned': { summary: 'old executions were pruned', data: free('the pruned executions') },
  'edge.ssh_username.verified': { summary: 'a node accepted the first SSH login of a username with a given key or password since its agent started', data: obj(['node_id', 'username', 'method'], { node_id: str, username: str, method: str, key_fingerprint: nstr, source_address: str, verified_at: str }) },
  'edge.self_update_request.completed': { summary: 'a self-update request finished', data: free('the request and its outcome') },
};

const pascal = (type: string) => type.split(/[._]/).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');

const CLOUD_EVENT: Schema = {
  type: 'object',
  description: 'CloudEvents 1.0, structured content mode (JSON). The same document a webhook receives, without the signature.',
  required: ['specversion', 'id', 'type', 'source', 'time', 'datacontenttype', 'data'],
  properties: {
    specversion: { const: '1.0' },
    id: { type: 'string', description: 'Unique per event; the same on every re-publish. Also the Nats-Msg-Id header (JetStream de-duplication): consumers de-duplicate on it.' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    source: { type: 'string', description: '/outpost/admin/<admin id> for the admin\'s own events' },
    subject: { type: 'string', description: 'id of the resource the event is about (node, execution, enrollment key); absent when none' },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { const: 'application/json' },
    data: { type: 'object' },
  },
};

export interface AsyncApiOptions { subjectPrefix: string; stream: string; duplicateWindowMs: number; serverUrl?: string }

export function buildAsyncApi(o: AsyncApiOptions): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = { CloudEvent: CLOUD_EVENT };
  for (const type of EVENT_TYPES) {
    const name = pascal(type);
    const { summary, data } = EVENT_DATA[type];
    schemas[`${name}Data`] = data;
    messages[name] = {
      name: type, title: type, summary,
      contentType: 'application/cloudevents+json',
      headers: {
        type: 'object',
        properties: {
          'Nats-Msg-Id': { type: 'string', description: 'the CloudEvent id (JetStream drops a message whose id it saw within the stream\'s duplicate window)' },
          'Content-Type': { const: 'application/cloudevents+json; charset=utf-8' },
        },
      },
      payload: { allOf: [{ $ref: '#/components/schemas/CloudEvent' }, { type: 'object', properties: { type: { const: type }, data: { $ref: `#/components/schemas/${name}Data` } } }] },
    };
    channels[subjectFor(o.subjectPrefix, type)] = {
      description: `${summary}. Subject of event type \`${type}\`.`,
      subscribe: { operationId: `on${name}`, summary: `Receive ${type}`, message: { $ref: `#/components/messages/${name}` } },
      bindings: { nats: { bindingVersion: '0.1.0' } },
    };
  }
  return {
    asyncapi: '2.6.0',
    id: 'urn:outpost:admin:events',
    info: {
      title: 'Outpost control-plane events',
      version: VERSION,
      description: [
        'Every control-plane event (the catalog of GET /api/v1/event_types, the events webhooks receive) is published to NATS JetStream',
        `on subject \`${o.subjectPrefix}.<event type>\` in stream \`${o.stream}\` (subjects \`${o.subjectPrefix}.>\`, file storage), as a CloudEvents 1.0 JSON document.`,
        'Delivery is at least once, from the admin\'s durable outbox; the Nats-Msg-Id header is the CloudEvent id, so JetStream drops a re-publish within',
        `the stream's duplicate window (${o.duplicateWindowMs} ms when the admin creates the stream). Consumers de-duplicate on the CloudEvent id beyond it.`,
        'Settings: admin.nats_url (NATS_URL), admin.nats_subject_prefix, admin.nats_stream, admin.nats_duplicate_window_ms. See docs/events.md.',
      ].join(' '),
    },
    defaultContentType: 'application/cloudevents+json',
    servers: { nats: { url: o.serverUrl ?? 'nats://localhost:4222', protocol: 'nats', description: 'the NATS server of admin.nats_url' } },
    channels,
    components: { messages, schemas },
  };
}

/** The document for a configuration (the server URL without credentials). */
export function asyncApiFor(cfg: Config): Record<string, unknown> {
  const first = cfg.admin.nats_url?.split(',')[0]?.trim();
  return buildAsyncApi({
    subjectPrefix: cfg.admin.nats_subject_prefix, stream: cfg.admin.nats_stream, duplicateWindowMs: cfg.admin.nats_duplicate_window_ms,
    serverUrl: first ? first.replace(/\/\/[^@/]*@/, '//') : undefined,
  });
}

/** GET /asyncapi.json: public, like /openapi.json. */
export function asyncApiRoutes(http: HttpServer, cfg: Config): void {
  let doc: string | undefined;
  http.add({
    method: 'get', path: '/asyncapi.json', auth: 'public', tags: ['system'], summary: 'The AsyncAPI 2.6 document of the events published to NATS JetStream',
    responses: { 200: { description: 'AsyncAPI document' } },
    handler(_req: Req, res: Res) {
      doc ??= JSON.stringify(asyncApiFor(cfg));
      res.send(200, doc);
    },
  });
}
