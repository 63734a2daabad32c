// Bridges the tunnel to the local command runner (daemon/agent/commands): a CommandDeliver
// becomes a local execution (its id kept with the delivery), a CommandCancel cancels it, and
// its final state goes back as a CommandResult through the durable outbox. After the result is
// queued the local execution is acknowledged (deleted): the outbox now holds the outcome.
// At start, deliveries whose result was not queued yet are picked up again (the runner marks
// executions a crash interrupted as failed, so each one ends and is reported exactly once
// from the agent's side; the admin drops repeats).
import type { CommandService, WireExecution } from '../commands';
import type { Logger } from '../../base/log';
import type { CommandDeliver, CommandResult } from '../../tunnel/schema';
import type { TunnelStore } from './store';

type Commands = Pick<CommandService, 'create' | 'cancel' | 'get' | 'subscribe' | 'acknowledge'>;

const TERMINAL = new Set(['completed', 'cancelled', 'expired']);
const ms = (iso: string | null) => (iso ? Date.parse(iso) : 0);

export function toResult(executionId: string, e: WireExecution): CommandResult {
  return {
    execution_id: executionId,
    status: e.status as CommandResult['status'],
    ...(e.exit_code === null ? {} : { exit_code: e.exit_code }),
    output: e.output ?? '',
    output_truncated: e.output_truncated,
    output_dropped_bytes: e.output_dropped_bytes,
    error: e.error ?? '',
    started_at: ms(e.sent_at),
    completed_at: ms(e.completed_at),
    cancelled_at: ms(e.cancelled_at),
  };
}

/** Live output is coalesced this long (one frame per burst, not one per PTY read). */
const LIVE_FLUSH_MS = 50;
/** …or until this many characters are waiting. */
const LIVE_MAX_CHUNK = 64 * 1024;

export class CommandsBridge {
  private readonly watching = new Map<string, () => void>();
  /** Result bookkeeping under way (outbox, delivery record, local acknowledge): close waits for it. */
  private readonly inflight = new Set<Promise<void>>();
  private closed = false;

  /** Live output not sent yet, per execution: coalesced for LIVE_FLUSH_MS into one CommandOutput. */
  private readonly pendingLive = new Map<string, { offset: number; text: string; timer: NodeJS.Timeout }>();
  /** Bytes of output already handed to `live`, per execution. */
  private readonly liveOffset = new Map<string, number>();

  constructor(
    private readonly commands: Commands,
    private readonly store: TunnelStore,
    private readonly report: (r: CommandResult) => Promise<void>,
    private readonly log: Logger,
    /** Best-effort live output (the tunnel's CommandOutput); the result stays authoritative. */
    private readonly live?: (executionId: string, offset: number, data: string) => void,
  ) {}

  /** Hook: a new delivery. Resolves with the local execution id once it is stored. */
  deliver(d: CommandDeliver): Promise<string | null> {
    const p = this.take(d);
    this.track(p.then(() => undefined, () => undefined));
    return p;
  }

  private async take(d: CommandDeliver): Promise<string | null> {
    let local: WireExecution;
    try {
      local = await this.commands.create({
        id: d.execution_id,
        command_text: d.command_text,
        timeout: d.timeout_ms ?? null,
        expired_at: d.expired_at ? new Date(d.expired_at).toISOString() : null,
        ...(d.command_id ? { command_id: d.command_id } : {}),
      });
    } catch (err) {
      // The runner refused it (full, shutting down): report that instead of leaving it hanging.
      const now = Date.now();
      await this.store.putDelivery(d.execution_id, { ref: null, done: true, at: now });
      await this.report({ execution_id: d.execution_id, status: 'completed', output: '', error: `the agent could not take the command: ${(err as Error).message}`, completed_at: now });
      return null;
    }
    await this.store.putDelivery(d.execution_id, { ref: local.id, done: false, at: Date.now() });
    this.watch(d.execution_id, local.id);
    return local.id;
  }

  /** Hook: cancel; the runner's own semantics apply (pending → cancelled, running → SIGTERM). */
  async cancel(executionId: string, ref: string | null): Promise<void> {
    if (!ref) return;
    try { await this.commands.cancel(ref); } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'conflict' && code !== 'not_found') throw err; // already over: its result says how
    }
  }

  /** Picks up deliveries whose outcome is not queued yet (after a restart). */
  resume(): void {
    for (const { id, rec } of this.store.deliveries()) {
      if (rec.done || !rec.ref) continue;
      let e: WireExecution;
      try { e = this.commands.get(rec.ref); } catch {
        // Gone from the runner without a queued result: report it as lost rather than never.
        this.track(this.finish(id, rec.ref, null));
        continue;
      }
      if (TERMINAL.has(e.status)) this.track(this.finish(id, rec.ref, e));
      else this.watch(id, rec.ref);
    }
  }

  /**
   * Stops watching and waits for result bookkeeping already under way, so that no write reaches
   * the outbox or the runner's store after they close. What is cut short is redone at the next
   * start (the delivery record says the outcome is not queued yet).
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pendingLive.values()) clearTimeout(p.timer);
    this.pendingLive.clear();
    for (const un of this.watching.values()) un();
    this.watching.clear();
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  private track(p: Promise<void>): void {
    const t = p.finally(() => this.inflight.delete(t));
    this.inflight.add(t);
  }

  private watch(executionId: string, ref: string): void {
    if (this.watching.has(executionId)) return;
    let un: (() => void) | undefined;
    let ended = false;
    un = this.commands.subscribe(ref, {
      output: (text) => this.onOutput(executionId, text),
      status: (_e, final) => {
        if (!final || ended) return;
        ended = true;
        un?.();
        this.watching.delete(executionId);
        this.flushLive(executionId);
        this.liveOffset.delete(executionId);
        // The listener gets the state without output: read the stored execution.
        let full: WireExecution | null = null;
        try { full = this.commands.get(ref); } catch { /* acknowledged meanwhile */ }
        this.track(this.finish(executionId, ref, full));
      },
    });
    if (ended) un();
    else this.watching.set(executionId, un);
  }

  /** A subscription starts with the output so far (offset 0), then each new piece. */
  private onOutput(executionId: string, text: string): void {
    if (!this.live || !text || this.closed) return;
    const p = this.pendingLive.get(executionId);
    if (p) { p.text += text; if (p.text.length >= LIVE_MAX_CHUNK) this.flushLive(executionId); return; }
    const offset = this.liveOffset.get(executionId) ?? 0;
    const timer = setTimeout(() => this.flushLive(executionId), LIVE_FLUSH_MS);
    timer.unref();
    this.pendingLive.set(executionId, { offset, text, timer });
    if (text.length >= LIVE_MAX_CHUNK) this.flushLive(executionId);
  }

  private flushLive(executionId: string): void {
    const p = this.pendingLive.get(executionId);
    if (!p) return;
    this.pendingLive.delete(executionId);
    clearTimeout(p.timer);
    this.liveOffset.set(executionId, p.offset + Buffer.byteLength(p.text, 'utf8'));
    try { this.live!(executionId, p.offset, p.text); } catch (err) { this.log.debug({ err }, 'tunnel: live command output not sent'); }
  }

  private async finish(executionId: string, ref: string, e: WireExecution | null): Promise<void> {
    if (this.closed) return;
    try {
      const rec = this.store.delivery(executionId);
      if (rec?.done) return;
      await this.report(e ? toResult(executionId, e) : { execution_id: executionId, status: 'completed', output: '', error: 'the agent lost this execution (its local record is gone)', completed_at: Date.now() });
      await this.store.putDelivery(executionId, { ref, done: true, at: Date.now() });
      await this.commands.acknowledge(ref).catch(() => { /* already gone */ });
    } catch (err) {
      this.log.error({ err, execution_id: executionId }, 'tunnel: queuing a command result failed (it is reported after the next restart)');
    }
  }
}
