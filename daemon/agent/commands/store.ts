// Command executions on their own LMDB environment (data_dir/agent/commands.mdb), keyed by id,
// with a sequence index for FIFO order and newest-first lists. Every write resolves only after
// its transaction is on disk, so a state is reported only once it would survive a SIGKILL.
import fs from 'node:fs';
import path from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../../native';
import type { Execution, Status } from './types';

export class CommandStore {
  private readonly env: RootDatabase;
  private readonly execs: Database<Execution, string>;
  private readonly bySeq: Database<string, number>;
  private lastSeq = 0;
  /** Executions stored (every status). */
  count = 0;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path: file, overlappingSync: true, compression: false, maxDbs: 4 }) as RootDatabase;
    this.execs = this.env.openDB({ name: 'executions', encoding: 'msgpack' });
    this.bySeq = this.env.openDB({ name: 'by_seq', encoding: 'string' });
    for (const k of this.bySeq.getKeys({ reverse: true, limit: 1 })) this.lastSeq = k;
    this.count = this.execs.getCount();
  }

  nextSeq(): number { return ++this.lastSeq; }

  get(id: string): Execution | undefined { return this.execs.get(id); }

  /** Inserts or replaces an execution; resolves once durable. */
  async put(e: Execution): Promise<void> {
    await this.env.transaction(() => {
      if (this.execs.get(e.id) === undefined) { this.count++; this.bySeq.putSync(e.seq, e.id); }
      this.execs.putSync(e.id, e);
    });
  }

  /** Removes an execution; resolves once durable. False when there was none. */
  async delete(id: string): Promise<boolean> {
    return this.env.transaction(() => {
      const e = this.execs.get(id);
      if (!e) return false;
      this.execs.removeSync(id);
      this.bySeq.removeSync(e.seq);
      this.count--;
      return true;
    });
  }

  /** Every execution in store order (oldest first). */
  *all(): Generator<Execution> {
    for (const { value: id } of this.bySeq.getRange()) {
      const e = this.execs.get(id);
      if (e) yield e;
    }
  }

  /** Newest first, optionally one status; `offset`/`limit` page through the matches. */
  list(status: Status | undefined, offset: number, limit: number): { items: Execution[]; total: number } {
    const items: Execution[] = [];
    let total = 0;
    for (const { value: id } of this.bySeq.getRange({ reverse: true })) {
      const e = this.execs.get(id);
      if (!e || (status && e.status !== status)) continue;
      if (total >= offset && items.length < limit) items.push(e);
      total++;
    }
    return { items, total };
  }

  async close(): Promise<void> { await this.env.close(); }
}
