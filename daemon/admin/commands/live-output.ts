// Live output of running executions on the admin: the pieces agents send as their commands
// print (CommandOutput, best effort), kept in memory for the live views (`outpost run`,
// GET /api/v1/commands/:id/output) until they are read or go stale. Keyed by node AND
// execution: a node can only ever fill the entry of its own tunnel's node id, and readers look
// up the node the store says the execution belongs to, so one node cannot write into another's
// view. Bounded: per execution (the newest bytes are kept) and in total (the entries touched
// least recently go first). The stored result stays the authoritative output.

export interface LiveChunk { seq: number; offset: number; data: string }
export interface LiveRead { execution_id: string; node_id: string; offset: number; data: string }

interface Entry { chunks: LiveChunk[]; bytes: number; next: number; touched: number }

export interface LiveOutputOptions {
  /** Bytes kept per execution (default 1 MiB; older pieces are dropped). */
  perExecutionBytes?: number;
  /** Bytes kept in total (default 64 MiB). */
  totalBytes?: number;
  /** An entry nobody wrote or read for this long is dropped (default 10 min). */
  idleMs?: number;
}

export class LiveOutput {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  private readonly perExec: number;
  private readonly maxTotal: number;
  private readonly idleMs: number;

  constructor(o: LiveOutputOptions = {}) {
    this.perExec = o.perExecutionBytes ?? 1 << 20;
    this.maxTotal = o.totalBytes ?? 64 << 20;
    this.idleMs = o.idleMs ?? 10 * 60_000;
  }

  /** The cursor a reader starts from to see only what comes after now. */
  get cursor(): number { return this.seq; }
  get size(): number { return this.entries.size; }
  get bytes(): number { return this.total; }

  /** A piece from the tunnel of `nodeId`. Repeats and overlaps (a resumed agent re-sends from 0) are trimmed by offset. */
  append(nodeId: string, executionId: string, offset: number, data: string): void {
    if (!data) return;
    const key = `${nodeId}\u0000${executionId}`;
    const now = Date.now();
    let e = this.entries.get(key);
    if (!e) { e = { chunks: [], bytes: 0, next: 0, touched: now }; this.entries.set(key, e); }
    e.touched = now;
    let buf = Buffer.from(data, 'utf8');
    if (offset + buf.length <= e.next) return; // already have all of it
    if (offset < e.next) {
      // Overlap: keep the part past what we have, from a character boundary on.
      let skip = e.next - offset;
      while (skip < buf.length && (buf[skip] & 0xc0) === 0x80) skip++;
      buf = buf.subarray(skip);
      offset += skip;
      if (!buf.length) return;
    }
    const piece = buf.toString('utf8');
    e.chunks.push({ seq: ++this.seq, offset, data: piece });
    e.bytes += buf.length;
    this.total += buf.length;
    e.next = offset + buf.length;
    while (e.bytes > this.perExec && e.chunks.length > 1) this.dropFirst(e);
    if (this.total > this.maxTotal) this.evict(key);
    for (const w of [...this.waiters]) w();
  }

  /** Pieces after `cursor` of the given executions (each with the node the store says it runs on). */
  read(executions: Array<{ id: string; node_id: string | null }>, cursor: number): { chunks: LiveRead[]; cursor: number } {
    const out: LiveRead[] = [];
    const now = Date.now();
    for (const x of executions) {
      if (!x.node_id) continue;
      const e = this.entries.get(`${x.node_id}\u0000${x.id}`);
      if (!e) continue;
      e.touched = now;
      for (const c of e.chunks) if (c.seq > cursor) out.push({ execution_id: x.id, node_id: x.node_id, offset: c.offset, data: c.data });
    }
    return { chunks: out, cursor: this.seq };
  }

  /** Resolves after the next append, or after `ms`, or when `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); this.waiters.delete(done); signal?.removeEventListener('abort', done); resolve(); };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Drops entries idle for longer than idleMs. */
  sweep(now = Date.now()): void {
    for (const [k, e] of this.entries) if (now - e.touched > this.idleMs) { this.total -= e.bytes; this.entries.delete(k); }
  }

  private dropFirst(e: Entry): void {
    const c = e.chunks.shift()!;
    const n = Buffer.byteLength(c.data, 'utf8');
    e.bytes -= n;
    this.total -= n;
  }

  private evict(keep: string): void {
    this.sweep();
    const byAge = [...this.entries].filter(([k]) => k !== keep).sort((a, b) => a[1].touched - b[1].touched);
    for (const [k, e] of byAge) {
      if (this.total <= this.maxTotal) return;
      this.total -= e.bytes;
      this.entries.delete(k);
    }
  }
}
