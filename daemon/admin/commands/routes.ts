// Commands.Command and Commands.CommandExecution routes of the reference: create (targeting,
// timeout, expired_at; executions delivered right after the commit), list/get/delete commands,
// list/get/delete executions, and cancel (pending → cancelled at once; sent → cancel sent to the
// agent, whose result is the outcome; terminal → 409).
import { deleteRoute, getRoute, listRoute } from '../api/routes';
import { sql } from 'kysely';
import type { HttpServer, Req, Res } from '../../http';
import type { JsonSchema } from '../../http';
import { invalid, notFound, ok, paged } from '../api/envelope';
import { filterDate, isSetFilter, listQuerySchema, runList, type ListSpec } from '../api/list';
import { paginated, single, UUID_PATTERN, uuidParam } from '../api/schemas';
import type { AdminCtx } from '../api/context';
import { iso } from '../store/util';
import type { CommandRow } from '../store/schema';
import type { CommandDispatch } from './dispatch';
import {
  cancelExecution, COMMAND_TEXT, commandView, createCommand, deleteCommand, deleteExecution, EXECUTION_STATUSES, executionView, getCommand, getExecution,
  type ExecutionWithText,
} from './store';
import { targetingSchema, type Targeting } from './targeting';

/** Same limits as the agent's command runner (daemon/agent/commands/routes.ts). */
export const MAX_COMMAND_BYTES = 128 * 1024 - 1;
export const MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

const ts = { type: 'string', format: 'date-time' };
const tsNull = { type: ['string', 'null'], format: 'date-time' };

export const commandSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, command_text: { type: 'string', description: 'Multi-line shell script/commands' },
    targeting: { type: 'object', description: 'Targeting configuration used when creating this command (informational only, not filterable)' },
    timeout: { type: ['integer', 'null'], description: 'Command timeout in milliseconds (null means no timeout)' },
    expired_at: { ...tsNull, description: 'Deadline after which pending/sent executions are automatically expired (immutable after creation)' },
    inserted_at: ts, updated_at: ts,
  },
};

export const executionSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, command_id: { type: 'string', format: 'uuid' },
    node_id: { type: ['string', 'null'], description: 'ID of the target node (null after the node was deleted)' },
    cluster_name: { type: ['string', 'null'], description: 'The cluster explicitly targeted: set only for clusters targeting of a single cluster' },
    command_text: { type: ['string', 'null'], description: 'The command text being executed (denormalized for convenience)' },
    status: { type: 'string', enum: [...EXECUTION_STATUSES] },
    exit_code: { type: ['integer', 'null'], description: 'Final exit code (0 = success; 143 = terminated by a cancel or timeout)' },
    output: { type: ['string', 'null'], description: 'Combined output from command execution' },
    error: { type: ['string', 'null'], description: 'Outpost addition: why the agent could not run it to its own end (e.g. "agent restarted while the command was running"), null when it did' },
    target_all: { type: 'boolean', description: 'Whether this execution was created from a system-wide command' },
    timeout: { type: ['integer', 'null'] },
    sent_at: tsNull, completed_at: tsNull, cancelled_at: tsNull, expired_at: tsNull, inserted_at: ts, updated_at: ts,
  },
};

export const commandListSpec: ListSpec = {
  filters: {
    command_text: { kind: 'text', expr: 'commands.command_text', description: 'Filter by command text (exact match or wildcard: ls, docker*, etc.)' },
    has_expired_at: isSetFilter('commands.expired_at', 'true returns commands with expired_at, false commands without'),
    has_timeout: isSetFilter('commands.timeout', 'true returns commands with a timeout, false commands without'),
    timeout: { kind: 'int', expr: 'commands.timeout', ops: ['gte', 'lte'], description: 'Filter commands by timeout (milliseconds)' },
    expired_at: { kind: 'date', expr: 'commands.expired_at' },
    inserted_at: { kind: 'date', expr: 'commands.inserted_at' },
    updated_at: { kind: 'date', expr: 'commands.updated_at' },
  },
  sort: { command_text: 'commands.command_text', timeout: 'commands.timeout', expired_at: 'commands.expired_at', inserted_at: 'commands.inserted_at', updated_at: 'commands.updated_at', id: 'commands.id' },
  defaultSort: [['inserted_at', 'desc']],
  id: 'commands.id',
};


export const executionListSpec: ListSpec = {
  filters: {
    command_id: { kind: 'exact', expr: 'command_executions.command_id', description: 'Filter by command ID' },
    node_id: { kind: 'exact', expr: 'command_executions.node_id', pattern: UUID_PATTERN, description: 'Filter by node ID (UUID)' },
    // Joined in only when this filter is given (see executionBase).
    cluster_name: { kind: 'text', expr: 'node_cluster.name', description: "Filter by cluster name via node's cluster (exact match or wildcard: prod, staging*, etc.)" },
    status: { kind: 'enum', expr: 'command_executions.status', values: EXECUTION_STATUSES, description: 'Filter by execution status' },
    exit_code: { kind: 'int', expr: 'command_executions.exit_code', ops: ['eq', 'gte', 'lte'], description: 'Filter by exit code (exit_code__gte=1 for all failures)' },
    output: { kind: 'text', expr: 'command_executions.output', description: 'Text search in output (exact match or wildcard: error, *failed*, etc.)' },
    has_output: { kind: 'bool', where: (v) => (v ? sql`(command_executions.output is not null and command_executions.output <> '')` : sql`(command_executions.output is null or command_executions.output = '')`), description: 'true returns executions with output, false executions with no output' },
    has_cluster: isSetFilter('command_executions.cluster_name', 'true returns executions of single-cluster targeting (cluster_name set), false the others'),
    target_all: { kind: 'bool', where: (v) => sql`command_executions.target_all = ${v ? 1 : 0}`, description: 'Filter by target_all flag' },
    sent_at: { kind: 'date', expr: 'command_executions.sent_at' },
    completed_at: { kind: 'date', expr: 'command_executions.completed_at' },
    cancelled_at: { kind: 'date', expr: 'command_executions.cancelled_at' },
    inserted_at: { kind: 'date', expr: 'command_executions.inserted_at' },
    updated_at: { kind: 'date', expr: 'command_executions.updated_at' },
  },
  sort: {
    status: 'command_executions.status', exit_code: 'command_executions.exit_code', node_id: 'command_executions.node_id', command_id: 'command_executions.command_id',
    cluster_name: 'command_executions.cluster_name', sent_at: 'command_executions.sent_at', completed_at: 'command_executions.completed_at',
    cancelled_at: 'command_executions.cancelled_at', expired_at: 'command_executions.expired_at', inserted_at: 'command_executions.inserted_at',
    updated_at: 'command_executions.updated_at', id: 'command_executions.id',
  },
  defaultSort: [['inserted_at', 'desc']],
  id: 'command_executions.id',
};

/** FROM part of the execution list: the node's cluster is joined only when filtered on. */
function executionBase(db: AdminCtx['db'], query: Record<string, unknown>) {
  const q = db.selectFrom('command_executions');
  if (typeof query.cluster_name !== 'string') return q;
  return q.innerJoin('nodes', 'nodes.id', 'command_executions.node_id').innerJoin('clusters as node_cluster', 'node_cluster.id', 'nodes.cluster_id');
}

/** A future ISO datetime from the body, or 422 naming it. */
function futureDate(value: string, field: string): string {
  let at: string;
  try { at = filterDate(value, 'gte', field); } catch { throw invalid({ [field]: 'must be an ISO 8601 datetime' }); }
  if (!/T/i.test(value)) throw invalid({ [field]: 'must be an ISO 8601 datetime (with a time)' });
  if (at <= iso()) throw invalid({ [field]: 'must be in the future' });
  return at;
}

interface CreateBody { command_text: string; targeting: Targeting; timeout?: number | null; expired_at?: string | null }

export function commandRoutes(http: HttpServer, ctx: AdminCtx, dispatch: CommandDispatch): void {
  const { db } = ctx;
  const params = { type: 'object', required: ['id'], properties: { id: uuidParam } };
  const CMD = ['Commands.Command'];
  const EXE = ['Commands.CommandExecution'];

  http.add({
    method: 'post', path: '/api/v1/commands', auth: 'api', tags: CMD,
    summary: "Create a command: one execution per targeted node ('all', 'nodes' or 'clusters', narrowed by node_filters AND cluster_filters), delivered over the tunnel to connected nodes at once and to the others when they connect",
    body: {
      type: 'object', required: ['command_text', 'targeting'], additionalProperties: false,
      properties: {
        command_text: { type: 'string', minLength: 1, description: `Multi-line shell script/commands to execute (at most ${MAX_COMMAND_BYTES} bytes)` },
        targeting: targetingSchema,
        timeout: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TIMEOUT_MS, description: 'Command timeout in milliseconds (optional, null or omitted means no timeout, must be > 0)' },
        expired_at: { type: ['string', 'null'], maxLength: 40, description: 'Deadline after which pending/sent executions are automatically expired. Must be in the future. Immutable after creation.' },
      },
    },
    responses: { 201: { description: 'created', schema: single(commandSchema) }, 422: { description: 'validation failed (a field, an unknown node or cluster, a bad filter)' } },
    async handler(req: Req, res: Res) {
      const b = req.body as CreateBody;
      if (Buffer.byteLength(b.command_text) > MAX_COMMAND_BYTES) throw invalid({ 'body.command_text': `must be at most ${MAX_COMMAND_BYTES} bytes` });
      if (!b.command_text.trim()) throw invalid({ 'body.command_text': "can't be blank" });
      const expired_at = b.expired_at == null ? null : futureDate(b.expired_at, 'body.expired_at');
      const { command, deliveries } = await createCommand(db, { command_text: b.command_text, targeting: b.targeting, timeout: b.timeout ?? null, expired_at });
      dispatch.deliver(deliveries);
      ok(req, res, commandView(command), 201);
    },
  });

  listRoute<CommandRow>(http, {
    path: '/api/v1/commands', tags: CMD, summary: 'List commands (paginated, filtered, sorted)', what: 'commands', schema: commandSchema, spec: commandListSpec,
    base: () => db.selectFrom('commands'), select: (q) => q.selectAll('commands'), view: commandView,
  });

  http.add({
    method: 'get', path: '/api/v1/commands/:id/output', auth: 'api', tags: CMD,
    summary: "Live output of the command's running executions, as their agents send it (best effort: pieces can be missing, `offset` shows gaps; the execution's `output` stays authoritative). Long-polls up to wait_ms for new pieces after `cursor`",
    params,
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        cursor: { type: 'integer', minimum: 0, default: 0, description: 'the cursor of the previous answer (0 = everything still held)' },
        wait_ms: { type: 'integer', minimum: 0, maximum: 30_000, default: 0, description: 'wait up to this long for a new piece when there is none' },
      },
    },
    responses: {
      200: { description: 'pieces after the cursor', schema: single({ type: 'object', properties: {
        cursor: { type: 'integer', description: 'pass it back to get only newer pieces' },
        chunks: { type: 'array', items: { type: 'object', properties: {
          execution_id: { type: 'string', format: 'uuid' }, node_id: { type: 'string' },
          offset: { type: 'integer', description: 'bytes (UTF-8) of the output before this piece' }, data: { type: 'string' },
        } } },
      } }) },
      404: { description: 'no such command' },
    },
    async handler(req: Req, res: Res) {
      if (!(await getCommand(db, req.params.id))) throw notFound('command', req.params.id);
      const live = ctx.hub?.liveOutput;
      const cursor = req.query.cursor as number;
      const execs = await db.selectFrom('command_executions').select(['id', 'node_id']).where('command_id', '=', req.params.id).execute();
      let r = live ? live.read(execs, cursor) : { chunks: [], cursor };
      if (live && !r.chunks.length && (req.query.wait_ms as number) > 0) {
        await live.wait(req.query.wait_ms as number, res.signal);
        r = live.read(execs, cursor);
      }
      ok(req, res, r);
    },
  });

  getRoute(http, { path: '/api/v1/commands/:id', tags: CMD, summary: 'Get a command', params, what: 'command', schema: commandSchema, load: (id) => getCommand(db, id), view: commandView });

  deleteRoute(http, {
    path: '/api/v1/commands/:id', tags: CMD, summary: 'Delete a command and its executions (409 while an execution is pending or sent)', params, what: 'command',
    responses: { 409: { description: 'an execution is pending or sent' } }, remove: (id) => deleteCommand(db, id),
  });

  http.add({
    method: 'get', path: '/api/v1/command_executions', auth: 'api', tags: EXE, summary: 'List command executions (paginated, filtered, sorted)',
    query: listQuerySchema(executionListSpec),
    responses: { 200: { description: 'a page of executions', schema: paginated(executionSchema) } },
    async handler(req: Req, res: Res) {
      // The page's ids first (sorted over narrow index columns), then those rows in full.
      const { rows, pagination } = await runList<{ id: string }>(executionBase(db, req.query), (q) => q.select('command_executions.id'), executionListSpec, req.query);
      const ids = rows.map((r) => r.id);
      const full = ids.length ? await db.selectFrom('command_executions').selectAll().select(COMMAND_TEXT.as('command_text')).where('id', 'in', ids).execute() : [];
      const byId = new Map(full.map((r) => [r.id, r as ExecutionWithText]));
      paged(req, res, ids.map((id) => byId.get(id)).filter((r): r is ExecutionWithText => Boolean(r)).map(executionView), pagination);
    },
  });

  getRoute(http, { path: '/api/v1/command_executions/:id', tags: EXE, summary: 'Get a command execution', params, what: 'command execution', schema: executionSchema, load: (id) => getExecution(db, id), view: executionView });

  deleteRoute(http, {
    path: '/api/v1/command_executions/:id', tags: EXE, summary: 'Delete a command execution (only completed, cancelled or expired ones; 409 for pending or sent)', params, what: 'command execution',
    responses: { 409: { description: 'pending or sent' } }, remove: (id) => deleteExecution(db, id),
  });

  http.add({
    method: 'patch', path: '/api/v1/command_executions/:id/cancel', auth: 'api', tags: EXE,
    summary: 'Cancel an execution: pending → cancelled at once (never runs); sent → a cancel goes to the agent, which reports the real outcome (cancelled with exit 143, or completed if it had finished); completed/cancelled/expired → 409',
    params,
    responses: {
      200: { description: 'cancellation initiated', schema: single({ type: 'object', properties: { result: { type: 'string', description: 'Cancellation request status message' } } }) },
      404: { description: 'no such execution' }, 409: { description: 'already terminal' },
    },
    async handler(req: Req, res: Res) {
      const out = await cancelExecution(db, req.params.id);
      // Pending: the node may hold a delivery it has not acked yet; a cancel makes sure it never runs.
      const reached = dispatch.cancel(out.node_id, req.params.id);
      const result = out.kind === 'cancelled' ? 'cancelled'
        : reached ? 'cancellation request sent' : 'cancellation request queued (the node is unreachable; it gets the cancel when it reconnects)';
      ok(req, res, { result });
    },
  });
}
