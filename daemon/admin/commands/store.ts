// Commands and command executions in the control-plane store: creation (the command and one
// pending execution per targeted node in one transaction, with edge.command_execution.created),
// the execution state machine (pending → sent → completed | cancelled | expired; pending →
// cancelled | expired), deletes, and the response views. Every transition is a conditional
// UPDATE on the current status, so concurrent writers (the tunnel, the API, the sweeper) never
// overwrite a terminal state, and each transition's event is written exactly once.
import { sql } from 'kysely';
import { Conflict, NotFound } from '../../base/errors';
import type { CommandDeliver } from '../../tunnel/schema';
import { inTx, type DbOrTrx } from '../store/db';
import { emitEvents } from '../store/events';
import type { CommandExecutionRow, CommandRow } from '../store/schema';
import { iso, newId, parseJson } from '../store/util';
import { resolveTargeting, type Targeting } from './targeting';

export const EXECUTION_STATUSES = ['pending', 'sent', 'completed', 'cancelled', 'expired'] as const;
export type ExecStatus = (typeof EXECUTION_STATUSES)[number];
export const OPEN_STATUSES: readonly ExecStatus[] = ['pending', 'sent'];
export const isTerminal = (s: string) => s === 'completed' || s === 'cancelled' || s === 'expired';

export interface NewCommand { command_text: string; targeting: Targeting; timeout?: number | null; expired_at?: string | null }

/** An execution as the hub sends it. */
export interface Delivery { node_id: string; deliver: CommandDeliver }

export type ExecutionWithText = CommandExecutionRow & { command_text: string | null };

/** Rows per multi-row INSERT (well under SQLite's and PostgreSQL's bind-parameter limits). */
const CHUNK = 500;

/** Event data of an execution (every command_execution event carries the same fields). */
export function executionEventData(e: Pick<CommandExecutionRow, 'id' | 'command_id' | 'node_id' | 'cluster_name' | 'status' | 'exit_code'>): Record<string, unknown> {
  return { execution_id: e.id, command_id: e.command_id, node_id: e.node_id, cluster_name: e.cluster_name, status: e.status, exit_code: e.exit_code };
}

export function deliverOf(e: Pick<CommandExecutionRow, 'id' | 'command_id' | 'timeout' | 'expired_at'>, commandText: string): CommandDeliver {
  return {
    execution_id: e.id, command_id: e.command_id, command_text: commandText,
    ...(e.timeout ? { timeout_ms: e.timeout } : {}),
    ...(e.expired_at ? { expired_at: Date.parse(e.expired_at) } : {}),
  };
}

/**
 * Creates a command and one pending execution per targeted node, with their created events, in
 * one transaction. Returns the command and what to deliver once it committed.
 */
export async function createCommand(db: DbOrTrx, input: NewCommand, now = new Date()): Promise<{ command: CommandRow; deliveries: Delivery[] }> {
  return inTx(db, async (trx) => {
    const resolved = await resolveTargeting(trx, input.targeting);
    const at = iso(now);
    const command: CommandRow = {
      id: newId(), command_text: input.command_text, targeting: JSON.stringify(resolved.targeting),
      timeout: input.timeout ?? null, expired_at: input.expired_at ?? null, inserted_at: at, updated_at: at,
    };
    await trx.insertInto('commands').values(command).execute();
    const rows: CommandExecutionRow[] = resolved.nodeIds.map((node_id) => ({
      id: newId(), command_id: command.id, node_id, cluster_name: resolved.clusterName, target_all: resolved.targeting.type === 'all' ? 1 : 0,
      status: 'pending', exit_code: null, output: null, sent_at: null, completed_at: null, cancelled_at: null, cancel_requested_at: null, cancel_acked_at: null,
      timeout: command.timeout, expired_at: command.expired_at, inserted_at: at, updated_at: at,
    }));
    for (let i = 0; i < rows.length; i += CHUNK) await trx.insertInto('command_executions').values(rows.slice(i, i + CHUNK)).execute();
    await emitEvents(trx, rows.map((r) => ({ type: 'edge.command_execution.created', subject: r.id, data: executionEventData(r) })), now);
    return { command, deliveries: rows.map((r) => ({ node_id: r.node_id!, deliver: deliverOf(r, command.command_text) })) };
  });
}

export function commandView(c: CommandRow): Record<string, unknown> {
  return { id: c.id, command_text: c.command_text, targeting: parseJson(c.targeting, {}), timeout: c.timeout, expired_at: c.expired_at, inserted_at: c.inserted_at, updated_at: c.updated_at };
}

export function executionView(e: ExecutionWithText): Record<string, unknown> {
  return {
    id: e.id, command_id: e.command_id, node_id: e.node_id, cluster_name: e.cluster_name, command_text: e.command_text,
    status: e.status, exit_code: e.exit_code, output: e.output, error: e.error ?? null, target_all: e.target_all === 1, timeout: e.timeout,
    sent_at: e.sent_at, completed_at: e.completed_at, cancelled_at: e.cancelled_at, expired_at: e.expired_at,
    inserted_at: e.inserted_at, updated_at: e.updated_at,
  };
}

/** command_text of the parent command, as a correlated subquery (keeps list counts off the join). */
export const COMMAND_TEXT = sql<string | null>`(select commands.command_text from commands where commands.id = command_executions.command_id)`;

export async function getCommand(db: DbOrTrx, id: string): Promise<CommandRow | undefined> {
  return db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function getExecution(db: DbOrTrx, id: string): Promise<ExecutionWithText | undefined> {
  return db.selectFrom('command_executions').selectAll().select(COMMAND_TEXT.as('command_text')).where('id', '=', id).executeTakeFirst();
}

export type CancelOutcome =
  /** Was pending: cancelled now. `node_id` may hold it already (delivered, not yet acked): send a cancel too. */
  | { kind: 'cancelled'; node_id: string | null }
  /** Was sent: the agent is asked to stop it; its result says how it ended. */
  | { kind: 'requested'; node_id: string | null };

/** PATCH …/cancel: pending → cancelled at once; sent → cancel requested; terminal → 409. */
export async function cancelExecution(db: DbOrTrx, id: string, now = new Date()): Promise<CancelOutcome> {
  return inTx(db, async (trx) => {
    const e = await trx.selectFrom('command_executions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!e) throw new NotFound(`command execution ${JSON.stringify(id)} not found`);
    const at = iso(now);
    if (e.status === 'pending') {
      const r = await trx.updateTable('command_executions').set({ status: 'cancelled', cancelled_at: at, cancel_requested_at: at, updated_at: at })
        .where('id', '=', id).where('status', '=', 'pending').executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) {
        await emitEvents(trx, [{ type: 'edge.command_execution.cancelled', subject: id, data: executionEventData({ ...e, status: 'cancelled' }) }], now);
        return { kind: 'cancelled', node_id: e.node_id };
      }
      return cancelExecution(trx, id, now); // it moved meanwhile: decide on the new state
    }
    if (e.status === 'sent') {
      await trx.updateTable('command_executions').set({ cancel_requested_at: e.cancel_requested_at ?? at, cancel_acked_at: null, updated_at: at }).where('id', '=', id).execute();
      return { kind: 'requested', node_id: e.node_id };
    }
    throw new Conflict(`command execution ${id} is already ${e.status}`, { fields: [{ field: 'status', message: `is ${e.status} (terminal)` }] });
  });
}

/**
 * Expires open executions whose deadline passed (at most `limit` per call), with their events.
 * Returns how many expired and the ones that had been sent (their agents get a cancel).
 */
export async function expireDue(db: DbOrTrx, now = new Date(), limit = 1000): Promise<{ expired: number; sent: Array<{ id: string; node_id: string | null }> }> {
  const at = iso(now);
  return inTx(db, async (trx) => {
    const due = await trx.selectFrom('command_executions').selectAll()
      .where('status', 'in', [...OPEN_STATUSES]).where('expired_at', '<=', at).orderBy('expired_at').limit(limit).execute();
    if (!due.length) return { expired: 0, sent: [] };
    const sent = due.filter((e) => e.status === 'sent');
    // Sent ones keep a pending cancel for the agent (delivered on tunnelUp until acked).
    for (const [status, rows] of [['pending', due.filter((e) => e.status === 'pending')], ['sent', sent]] as const) {
      for (let i = 0; i < rows.length; i += CHUNK) {
        const ids = rows.slice(i, i + CHUNK).map((e) => e.id);
        await trx.updateTable('command_executions')
          .set(status === 'sent' ? { status: 'expired', cancel_requested_at: at, cancel_acked_at: null, updated_at: at } : { status: 'expired', updated_at: at })
          .where('id', 'in', ids).where('status', '=', status).execute();
      }
    }
    await emitEvents(trx, due.map((e) => ({ type: 'edge.command_execution.expired', subject: e.id, data: executionEventData({ ...e, status: 'expired' }) })), now);
    return { expired: due.length, sent: sent.map((e) => ({ id: e.id, node_id: e.node_id })) };
  });
}

/** DELETE /commands/:id — cascades to its executions; 409 while one is pending or sent. */
export async function deleteCommand(db: DbOrTrx, id: string): Promise<void> {
  await inTx(db, async (trx) => {
    if (!(await getCommand(trx, id))) throw new NotFound(`command ${JSON.stringify(id)} not found`);
    const open = await trx.selectFrom('command_executions').select((eb) => eb.fn.countAll<number>().as('n')).where('command_id', '=', id).where('status', 'in', [...OPEN_STATUSES]).executeTakeFirstOrThrow();
    if (Number(open.n) > 0) throw new Conflict(`command ${id} has ${open.n} pending or sent execution(s): cancel them or wait for them to finish`, { fields: [{ field: 'executions', message: 'has pending or sent executions' }] });
    await trx.deleteFrom('command_executions').where('command_id', '=', id).execute();
    await trx.deleteFrom('commands').where('id', '=', id).execute();
  });
}

/** DELETE /command_executions/:id — only terminal executions (409 for pending or sent). */
export async function deleteExecution(db: DbOrTrx, id: string): Promise<void> {
  await inTx(db, async (trx) => {
    const e = await trx.selectFrom('command_executions').select(['id', 'status']).where('id', '=', id).executeTakeFirst();
    if (!e) throw new NotFound(`command execution ${JSON.stringify(id)} not found`);
    if (!isTerminal(e.status)) throw new Conflict(`command execution ${id} is ${e.status}: cancel it first`, { fields: [{ field: 'status', message: `is ${e.status}` }] });
    await trx.deleteFrom('command_executions').where('id', '=', id).where('status', 'in', ['completed', 'cancelled', 'expired']).execute();
  });
}
