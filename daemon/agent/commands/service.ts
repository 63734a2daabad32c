// The command runner: accepts executions, queues them FIFO behind a concurrency limit, runs
// them in a PTY, and walks each through the reference's states
//   pending → sent → completed | cancelled | expired
// committing every transition to LMDB before anyone (API, WebSocket) hears of it. Live output
// goes to subscribers; results stay stored until the asker acknowledges (deletes) them.
import { Conflict, NotFound, Overloaded, Unavailable } from '../../base/errors';
import { randomUUID } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../../base/log';
import { resolveRunAs } from '../host/run-as';
import { OutputCapture } from './output';
import { setprivPath } from '../ssh/spawn';
import { PtyRun, type RunExit } from './pty-run';
import { CommandStore } from './store';
import { EXIT_TERMINATED, TERMINAL, toWire, type Execution, type Status } from './types';

/** Executions waiting to run; more are refused (429) until the queue drains. */
export const MAX_QUEUED = 1000;
/** Executions stored (any status); more are refused (429) until results are acknowledged. */
export const MAX_STORED = 10_000;
/** How often a running command's output so far is saved (it survives a crash of the agent). */
const PERSIST_INTERVAL_MS = 2000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export const REASON_RESTARTED = 'agent restarted while the command was running';
export const REASON_SHUTDOWN = 'agent shut down while the command was running';

export type WireExecution = ReturnType<typeof toWire>;

export interface OutputListener {
  /** A piece of output (text, CRLF already turned into LF). */
  output(text: string): void;
  /** A committed state; `final` once the execution is terminal (no more frames follow). */
  status(e: WireExecution, final: boolean): void;
}

export interface CommandOptions {
  file: string;
  /** This host's node id, read when an execution is created (the fleet's once enrolled). */
  nodeId: () => string;
  shell: string;
  runAs: string;
  maxConcurrent: number;
  outputCapBytes: number;
  killGraceMs: number;
  log: Logger;
}

export interface CreateRequest {
  command_text: string; timeout?: number | null; expired_at?: string | null; command_id?: string;
  /** Internal (tunnel deliveries): the admin's execution id, so a re-delivery finds the same execution. */
  id?: string;
}

/** The reference's AgentMetricsResponse `commands` object. */
export interface CommandStats { completed_total: number; enqueued_total: number; reported_total: number; synced_total: number }

interface Live {
  exec: Execution; // last committed state
  capture?: OutputCapture;
  decoder?: StringDecoder;
  run?: PtyRun;
  cancelRequested: boolean;
  dirty: boolean;
  expiry?: NodeJS.Timeout;
  listeners: Set<OutputListener>;
}

const iso = () => new Date().toISOString();

function withoutOutput(e: Execution): WireExecution {
  const w = toWire(e);
  w.output = null;
  return w;
}

export class CommandService {
  private readonly store: CommandStore;
  /** Pending and running executions. */
  private readonly live = new Map<string, Live>();
  /** Pending ids in FIFO order. */
  private readonly queue: string[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private readonly setpriv = setprivPath();
  private active = 0;
  private started = false;
  private stopping = false;
  private readonly counters: CommandStats = { completed_total: 0, enqueued_total: 0, reported_total: 0, synced_total: 0 };

  private constructor(private readonly o: CommandOptions) {
    this.store = new CommandStore(o.file);
  }

  /** Opens the store and settles what a previous run left: running ones fail, pending ones queue again. */
  static async open(o: CommandOptions): Promise<CommandService> {
    const s = new CommandService(o);
    try {
      await s.recover();
    } catch (err) {
      await s.store.close();
      throw err;
    }
    if (!s.setpriv) o.log.warn('setpriv (util-linux) not found: commands run with the run-as uid/gid but without its supplementary groups');
    return s;
  }

  private async recover(): Promise<void> {
    let failed = 0;
    for (const e of [...this.store.all()]) {
      if (e.status === 'sent') {
        const now = iso();
        await this.store.put({ ...e, status: 'completed', exit_code: null, error: REASON_RESTARTED, completed_at: now, updated_at: now });
        this.counters.completed_total++;
        failed++;
      } else if (e.status === 'pending') {
        this.enqueue(e);
      }
    }
    if (failed || this.queue.length) this.o.log.warn({ failed, requeued: this.queue.length }, 'command executions recovered after a restart');
  }

  /** Starts running queued executions (after the API is listening). */
  start(): void {
    this.started = true;
    this.pump();
  }

  async create(req: CreateRequest): Promise<WireExecution> {
    if (req.id) {
      const known = this.store.get(req.id);
      if (known) return toWire(known); // delivered again after a crash: the same execution, not a second run
    }
    if (this.stopping) throw new Unavailable('the agent is shutting down');
    if (this.queue.length >= MAX_QUEUED) throw new Overloaded(`${MAX_QUEUED} command executions are already waiting to run`, { queued: this.queue.length });
    if (this.store.count >= MAX_STORED) {
      throw new Overloaded(`${MAX_STORED} command executions are stored: acknowledge (DELETE) finished ones first`, { stored: this.store.count });
    }
    const now = iso();
    const e: Execution = {
      id: req.id ?? randomUUID(),
      command_id: req.command_id ?? randomUUID(),
      node_id: this.o.nodeId(),
      command_text: req.command_text,
      status: 'pending',
      exit_code: null,
      output: null,
      output_truncated: false,
      output_dropped_bytes: 0,
      error: null,
      timeout: req.timeout ?? null,
      expired_at: req.expired_at ?? null,
      target_all: false,
      cluster_name: null,
      inserted_at: now,
      updated_at: now,
      sent_at: null,
      completed_at: null,
      cancelled_at: null,
      seq: this.store.nextSeq(),
    };
    await this.store.put(e);
    this.counters.enqueued_total++;
    this.enqueue(e);
    this.pump();
    return toWire(e);
  }

  private enqueue(e: Execution): void {
    const lv: Live = { exec: e, cancelRequested: false, dirty: false, listeners: new Set() };
    this.live.set(e.id, lv);
    this.queue.push(e.id);
    this.armExpiry(lv);
  }

  /** A pending execution whose expired_at passes while it waits is expired then, not when its turn comes. */
  private armExpiry(lv: Live): void {
    if (!lv.exec.expired_at) return;
    const delay = Date.parse(lv.exec.expired_at) - Date.now();
    lv.expiry = setTimeout(() => {
      lv.expiry = undefined;
      if (this.stopping) return;
      if (Date.parse(lv.exec.expired_at!) > Date.now()) { this.armExpiry(lv); return; }
      if (!this.unqueue(lv.exec.id)) return; // already started or cancelled
      this.track(this.finish(lv, { status: 'expired' }));
    }, Math.max(0, Math.min(delay, MAX_TIMER_MS)));
    lv.expiry.unref();
  }

  private unqueue(id: string): boolean {
    const i = this.queue.indexOf(id);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err) => this.o.log.error({ err }, 'command execution bookkeeping failed')).finally(() => this.inflight.delete(t));
    this.inflight.add(t);
  }

  private pump(): void {
    while (this.started && !this.stopping && this.active < this.o.maxConcurrent && this.queue.length) {
      const lv = this.live.get(this.queue.shift()!)!;
      if (lv.expiry) { clearTimeout(lv.expiry); lv.expiry = undefined; }
      this.active++;
      this.track(this.execute(lv).finally(() => { this.active--; this.pump(); }));
    }
  }

  /** Commits a new state of a live execution, then tells its subscribers. */
  private async commit(lv: Live, patch: Partial<Execution>): Promise<void> {
    const next: Execution = { ...lv.exec, ...patch, updated_at: iso() };
    await this.store.put(next);
    lv.exec = next;
    for (const l of lv.listeners) l.status(withoutOutput(next), false);
  }

  /** Commits a terminal state, forgets the live execution and sends subscribers the final frame. */
  private async finish(lv: Live, patch: Partial<Execution> & { status: Status }): Promise<void> {
    if (lv.expiry) { clearTimeout(lv.expiry); lv.expiry = undefined; }
    const next: Execution = { ...lv.exec, ...patch, updated_at: iso() };
    await this.store.put(next);
    lv.exec = next;
    this.live.delete(next.id);
    this.counters.completed_total++;
    const wire = withoutOutput(next);
    for (const l of lv.listeners) l.status(wire, true);
    lv.listeners.clear();
  }

  private async execute(lv: Live): Promise<void> {
    const e = lv.exec;
    if (e.expired_at && Date.parse(e.expired_at) <= Date.now()) { await this.finish(lv, { status: 'expired' }); return; }
    let runAs;
    try {
      runAs = resolveRunAs(this.o.runAs);
    } catch (err) {
      // Never a fallback to root: the command does not run.
      const now = iso();
      this.o.log.error({ execution_id: e.id, err: (err as Error).message }, 'command not run: no run-as account');
      await this.finish(lv, { status: 'completed', exit_code: null, error: `not run: ${(err as Error).message}`, sent_at: now, completed_at: now });
      return;
    }
    // Committed before the process exists: after a crash it is reported failed, never run twice.
    await this.commit(lv, { status: 'sent', sent_at: iso() });
    if (lv.cancelRequested) { await this.finish(lv, { status: 'cancelled', cancelled_at: iso() }); return; }
    if (this.stopping) { await this.finish(lv, { status: 'completed', exit_code: null, error: 'agent shut down before the command started', completed_at: iso() }); return; }

    lv.capture = new OutputCapture(this.o.outputCapBytes);
    lv.decoder = new StringDecoder('utf8');
    const startedAt = Date.now();
    try {
      lv.run = new PtyRun({
        executionId: e.id, text: e.command_text, shell: this.o.shell, runAs, timeoutMs: e.timeout,
        killGraceMs: this.o.killGraceMs, setpriv: this.setpriv,
      }, (chunk) => this.onData(lv, chunk));
    } catch (err) {
      this.o.log.error({ execution_id: e.id, err }, 'command failed to start');
      await this.finish(lv, { status: 'completed', exit_code: null, error: `failed to start ${this.o.shell} in a PTY: ${(err as Error).message}`, completed_at: iso() });
      return;
    }
    this.o.log.info({ execution_id: e.id, child_pid: lv.run.pid, user: runAs.user }, 'command started');
    const persist = setInterval(() => this.persistOutput(lv), PERSIST_INTERVAL_MS);
    persist.unref();
    let r: RunExit;
    try {
      r = await lv.run.done;
    } finally {
      clearInterval(persist);
    }
    this.emit(lv, lv.decoder.write(lv.capture.end()) + lv.decoder.end());
    const out = lv.capture.render();
    const now = iso();
    const result: Partial<Execution> = { output: out.text, output_truncated: out.truncated, output_dropped_bytes: out.dropped };
    let patch: Partial<Execution> & { status: Status };
    switch (r.stoppedBy) {
      case 'cancel': patch = { ...result, status: 'cancelled', exit_code: EXIT_TERMINATED, cancelled_at: now }; break;
      case 'timeout': patch = { ...result, status: 'completed', exit_code: EXIT_TERMINATED, error: `timed out after ${e.timeout} ms`, completed_at: now }; break;
      case 'shutdown': patch = { ...result, status: 'completed', exit_code: EXIT_TERMINATED, error: REASON_SHUTDOWN, completed_at: now }; break;
      default: patch = { ...result, status: 'completed', exit_code: r.code, completed_at: now };
    }
    await this.finish(lv, patch);
    this.o.log.info({ execution_id: e.id, status: patch.status, exit_code: patch.exit_code, stopped_by: r.stoppedBy, duration_ms: Date.now() - startedAt, output_bytes: lv.capture.total }, 'command ended');
  }

  private onData(lv: Live, raw: Buffer): void {
    const b = lv.capture!.push(raw);
    lv.dirty = true;
    this.emit(lv, lv.decoder!.write(b));
  }

  private emit(lv: Live, text: string): void {
    if (!text) return;
    for (const l of lv.listeners) l.output(text);
  }

  private persistOutput(lv: Live): void {
    if (!lv.dirty || !lv.capture || TERMINAL.has(lv.exec.status) || !this.live.has(lv.exec.id)) return;
    lv.dirty = false;
    const out = lv.capture.render();
    this.store.put({ ...lv.exec, output: out.text, output_truncated: out.truncated, output_dropped_bytes: out.dropped })
      .catch((err) => this.o.log.error({ err, execution_id: lv.exec.id }, 'saving command output failed'));
  }

  /** Current state; a running execution shows its output so far. */
  private current(id: string): Execution | undefined {
    const lv = this.live.get(id);
    if (!lv) return this.store.get(id);
    if (!lv.capture) return lv.exec;
    const out = lv.capture.render();
    return { ...lv.exec, output: out.text, output_truncated: out.truncated, output_dropped_bytes: out.dropped };
  }

  get(id: string): WireExecution {
    const e = this.current(id);
    if (!e) throw new NotFound(`no command execution ${id}`, { id });
    this.counters.synced_total++;
    return toWire(e);
  }

  list(status: Status | undefined, page: number, pageSize: number): { items: WireExecution[]; total: number } {
    const r = this.store.list(status, (page - 1) * pageSize, pageSize);
    this.counters.synced_total++;
    return { items: r.items.map((e) => toWire(this.current(e.id) ?? e)), total: r.total };
  }

  /**
   * pending → cancelled at once (it never ran); sent → SIGTERM to its process group, and it is
   * reported cancelled with exit code 143 once it has ended; terminal → conflict.
   */
  async cancel(id: string): Promise<{ result: string; execution: WireExecution }> {
    const lv = this.live.get(id);
    if (!lv) {
      const e = this.store.get(id);
      if (!e) throw new NotFound(`no command execution ${id}`, { id });
      throw new Conflict(`command execution ${id} is already ${e.status}`, { id, status: e.status });
    }
    if (this.unqueue(id)) {
      await this.finish(lv, { status: 'cancelled', cancelled_at: iso() });
      return { result: 'cancelled', execution: toWire(lv.exec) };
    }
    lv.cancelRequested = true;
    lv.run?.stop('cancel');
    return { result: 'cancellation request sent', execution: toWire(this.current(id) ?? lv.exec) };
  }

  /** The asker has the result: forget it. Only terminal executions can be acknowledged. */
  async acknowledge(id: string): Promise<void> {
    const lv = this.live.get(id);
    if (lv) throw new Conflict(`command execution ${id} is ${lv.exec.status}: cancel it or wait for it to end before deleting it`, { id, status: lv.exec.status });
    if (!(await this.store.delete(id))) throw new NotFound(`no command execution ${id}`, { id });
    this.counters.reported_total++;
  }

  /**
   * Live output of one execution: the output so far and its state first, then every chunk and
   * state change; a terminal execution gets its stored output and final state at once.
   * Returns the unsubscribe function.
   */
  subscribe(id: string, l: OutputListener): () => void {
    const e = this.current(id);
    if (!e) throw new NotFound(`no command execution ${id}`, { id });
    const lv = this.live.get(id);
    if (!lv) {
      if (e.output) l.output(e.output);
      l.status(withoutOutput(e), true);
      return () => {};
    }
    l.status(withoutOutput(lv.exec), false);
    if (lv.capture) {
      const snap = lv.capture.render(true).text;
      if (snap) l.output(snap);
    }
    lv.listeners.add(l);
    return () => { lv.listeners.delete(l); };
  }

  stats(): CommandStats { return { ...this.counters }; }

  /** Counts for health/metrics: executions waiting and running now. */
  get queued(): number { return this.queue.length; }
  get running(): number { return this.active; }

  /**
   * Shutdown: accept nothing more, SIGTERM running commands (SIGKILL after the grace period) and
   * record them as ended by the shutdown. Pending ones stay pending and run after the restart.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const lv of this.live.values()) {
      if (lv.expiry) { clearTimeout(lv.expiry); lv.expiry = undefined; }
      lv.run?.stop('shutdown');
    }
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  async close(): Promise<void> {
    if (!this.stopping) await this.stop();
    await this.store.close();
  }
}
