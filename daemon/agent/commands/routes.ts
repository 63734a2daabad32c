// Local API of the command runner (MASTER_KEY only), in the Edge Admin reference's shapes:
// bodies are {"data", "meta": {request_id, timestamp}}, lists add meta.pagination. Errors keep
// the daemon's format ({"error": code, "message", "details"}).
import { randomUUID } from 'node:crypto';
import { STATUSES, type CommandService } from './';
import { BadRequest, CodedError } from '../../base/errors';
import type { HttpServer, JsonSchema, Req, Res } from '../../http';
import { err } from '../../http/error-body';

/** A single argument to `bash -c` may not exceed 128 KiB on Linux (MAX_ARG_STRLEN). */
export const MAX_COMMAND_BYTES = 128 * 1024 - 1;
/** Longest timeout accepted: 7 days. */
export const MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;
const ts = { type: ['string', 'null'], format: 'date-time' };

export const executionSchema: JsonSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    command_id: { type: 'string', format: 'uuid' },
    node_id: { type: 'string' },
    command_text: { type: 'string' },
    status: { type: 'string', enum: [...STATUSES] },
    exit_code: { type: ['integer', 'null'], description: '143 when cancelled, timed out or stopped by a shutdown; null when it never ran or its end is unknown' },
    output: { type: ['string', 'null'], description: 'combined output (stdout and stderr through the PTY); when truncated, the head and tail around a marker line' },
    output_truncated: { type: 'boolean' },
    output_dropped_bytes: { type: 'integer' },
    error: { type: ['string', 'null'], description: 'why the agent could not run the command to its own end (timeout, missing run-as account, restart, shutdown)' },
    timeout: { type: ['integer', 'null'] },
    expired_at: ts,
    target_all: { type: 'boolean' },
    cluster_name: { type: ['string', 'null'] },
    inserted_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    sent_at: { ...ts, description: 'when it started running' },
    completed_at: ts,
    cancelled_at: ts,
  },
};

const meta = { type: 'object', properties: { request_id: { type: 'string' }, timestamp: { type: 'string', format: 'date-time' } } };
const single = { type: 'object', properties: { data: executionSchema, meta } };
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 64 } } };

const metaNow = () => ({ request_id: randomUUID(), timestamp: new Date().toISOString() });

function bad(field: string, message: string): CodedError {
  return new BadRequest(`${field} ${message}`, { fields: [{ field, message }] });
}

export function agentCommandRoutes(server: HttpServer, commands: CommandService): void {
  server.add({
    method: 'post', path: '/api/v1/agent/commands', auth: 'master', tags: ['agent-commands'],
    summary: 'Run a multi-line command_text on this host (bash in a PTY, as ssh.run_as); answers with the pending execution',
    body: {
      type: 'object', required: ['command_text'], additionalProperties: false,
      properties: {
        command_text: { type: 'string', minLength: 1, description: `multi-line shell script (at most ${MAX_COMMAND_BYTES} bytes)` },
        timeout: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TIMEOUT_MS, description: 'ms; SIGTERM to the process group when it passes, SIGKILL after commands.kill_grace_ms; null or omitted: no timeout' },
        expired_at: { type: ['string', 'null'], description: 'ISO 8601 date-time in the future; if the command has not started by then it is expired and never runs' },
        command_id: { type: 'string', pattern: UUID, description: 'the control plane\'s command id (default: a new one)' },
      },
    },
    responses: { 201: { description: 'the execution, pending', schema: single }, 429: err('too many executions queued or stored'), 503: err('shutting down') },
    async handler(req: Req, res: Res) {
      const b = req.body as { command_text: string; timeout?: number | null; expired_at?: string | null; command_id?: string };
      if (!b.command_text.trim()) throw bad('body.command_text', 'must not be blank');
      if (b.command_text.includes('\0')) throw bad('body.command_text', 'must not contain NUL bytes');
      const bytes = Buffer.byteLength(b.command_text);
      if (bytes > MAX_COMMAND_BYTES) throw bad('body.command_text', `is ${bytes} bytes; at most ${MAX_COMMAND_BYTES} are allowed`);
      let expiredAt: string | null = null;
      if (b.expired_at !== undefined && b.expired_at !== null) {
        const t = Date.parse(b.expired_at);
        if (!RFC3339.test(b.expired_at) || Number.isNaN(t)) throw bad('body.expired_at', 'must be an ISO 8601 date-time such as 2030-01-01T00:00:00Z');
        if (t <= Date.now()) throw bad('body.expired_at', 'must be in the future');
        expiredAt = new Date(t).toISOString();
      }
      const e = await commands.create({ command_text: b.command_text, timeout: b.timeout ?? null, expired_at: expiredAt, command_id: b.command_id?.toLowerCase() });
      res.json(201, { data: e, meta: metaNow() });
    },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/command_executions', auth: 'master', tags: ['agent-commands'],
    summary: 'Command executions, newest first, optionally of one status; paginated',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        status: { type: 'string', enum: [...STATUSES] },
        page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
        page_size: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
      },
    },
    responses: {
      200: {
        description: 'a page of executions',
        schema: {
          type: 'object',
          properties: {
            data: { type: 'array', items: executionSchema },
            meta: {
              type: 'object',
              properties: {
                ...meta.properties,
                pagination: { type: 'object', properties: { page: { type: 'integer' }, page_size: { type: 'integer' }, total_count: { type: 'integer' }, total_pages: { type: 'integer' }, has_next: { type: 'boolean' }, has_prev: { type: 'boolean' }, next_page: { type: ['integer', 'null'] }, prev_page: { type: ['integer', 'null'] } } },
              },
            },
          },
        },
      },
    },
    handler(req: Req, res: Res) {
      const q = req.query as { status?: (typeof STATUSES)[number]; page: number; page_size: number };
      const { items, total } = commands.list(q.status, q.page, q.page_size);
      const pages = Math.ceil(total / q.page_size);
      const pagination = {
        page: q.page, page_size: q.page_size, total_count: total, total_pages: pages,
        has_next: q.page < pages, has_prev: q.page > 1,
        next_page: q.page < pages ? q.page + 1 : null, prev_page: q.page > 1 ? q.page - 1 : null,
      };
      res.json(200, { data: items, meta: { ...metaNow(), pagination } });
    },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/command_executions/:id', auth: 'master', tags: ['agent-commands'],
    summary: 'One command execution; while it runs, its output so far',
    params: idParams,
    responses: { 200: { description: 'the execution', schema: single }, 404: err('no such execution') },
    handler(req: Req, res: Res) {
      res.json(200, { data: commands.get(req.params.id), meta: metaNow() });
    },
  });
  server.add({
    method: 'patch', path: '/api/v1/agent/command_executions/:id/cancel', auth: 'master', tags: ['agent-commands'],
    summary: 'Cancel: pending → cancelled at once; running → SIGTERM to its process group, then cancelled with exit code 143; terminal → 409',
    params: idParams,
    responses: {
      200: { description: 'cancelled, or cancellation sent to the running command (poll the execution)', schema: { type: 'object', properties: { data: { type: 'object', properties: { result: { type: 'string', enum: ['cancelled', 'cancellation request sent'] }, execution: executionSchema } }, meta } } },
      404: err('no such execution'),
      409: err('already completed, cancelled or expired'),
    },
    async handler(req: Req, res: Res) {
      res.json(200, { data: await commands.cancel(req.params.id), meta: metaNow() });
    },
  });
  server.add({
    method: 'delete', path: '/api/v1/agent/command_executions/:id', auth: 'master', tags: ['agent-commands'],
    summary: 'Acknowledge a finished execution: its stored result is released (completed, cancelled or expired only; pending/sent → 409)',
    params: idParams,
    responses: { 204: { description: 'deleted' }, 404: err('no such execution'), 409: err('still pending or running') },
    async handler(req: Req, res: Res) {
      await commands.acknowledge(req.params.id);
      res.send(204, '');
    },
  });
}
