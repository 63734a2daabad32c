// Session recordings: every shell and exec as an asciicast v2 file under
// data_dir/agent/recordings/<id>.cast (a header line, then [seconds, "o", data] output events
// and [seconds, "r", "COLSxROWS"] resizes). One buffered write stream per recording; output past
// ssh.recording_max_bytes is dropped and a final [seconds, "m", …] marker says so. The index
// (who, from where, when, exit) lives in ssh.mdb; the oldest recordings are deleted once all of
// them together exceed ssh.recordings_max_total_bytes.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Database, RootDatabase } from 'lmdb';

export interface RecordingMeta {
  id: string;
  kind: 'shell' | 'exec';
  user: string;
  run_as: string;
  source_address: string;
  source_port: number;
  command: string | null;
  pty: boolean;
  width: number;
  height: number;
  started_at: string;
  ended_at: string | null;
  exit_status: number | null;
  exit_signal: string | null;
  /** Bytes of the .cast file. */
  bytes: number;
  /** Output bytes the session produced (recorded or not). */
  output_bytes: number;
  truncated: boolean;
  /** The daemon stopped before the session ended (recording kept as it was). */
  interrupted?: boolean;
}

export interface RecordingOptions { enabled: boolean; maxBytes: number; maxTotalBytes: number }

/** Room kept under the cap for the truncation marker. */
const MARKER_RESERVE = 256;

export const RECORDING_ID_RE = /^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$/;

function newId(): string {
  return new Date().toISOString().replace(/[-:.]/g, '') + '-' + randomBytes(4).toString('hex');
}

export class Recording {
  private readonly out: fs.WriteStream;
  private readonly t0 = performance.now();
  private readonly decoder = new StringDecoder('utf8');
  private done = false;

  constructor(private readonly store: RecordingStore, readonly meta: RecordingMeta, file: string, env: Record<string, string>, title: string) {
    this.out = fs.createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: 256 * 1024 });
    this.out.on('error', () => { this.meta.truncated = true; });
    const header: Record<string, unknown> = { version: 2, width: meta.width, height: meta.height, timestamp: Math.floor(Date.parse(meta.started_at) / 1000), env, title };
    if (meta.command !== null) header.command = meta.command;
    this.line(JSON.stringify(header) + '\n');
  }

  private line(s: string): void {
    const n = Buffer.byteLength(s);
    this.meta.bytes += n;
    this.store.totalBytes += n;
    this.out.write(s);
  }

  private now(): number { return Math.round(performance.now() - this.t0) / 1000; }

  output(chunk: Buffer): void {
    this.meta.output_bytes += chunk.length;
    if (this.done || this.meta.truncated) return;
    const text = this.decoder.write(chunk);
    if (text === '') return;
    const ev = JSON.stringify([this.now(), 'o', text]) + '\n';
    if (this.meta.bytes + ev.length > this.store.opts.maxBytes - MARKER_RESERVE) {
      this.meta.truncated = true;
      this.line(JSON.stringify([this.now(), 'm', `recording truncated: it reached ssh.recording_max_bytes (${this.store.opts.maxBytes} bytes); later output was not recorded`]) + '\n');
      return;
    }
    this.line(ev);
  }

  resize(cols: number, rows: number): void {
    if (this.done || this.meta.truncated) return;
    this.line(JSON.stringify([this.now(), 'r', `${cols}x${rows}`]) + '\n');
  }

  finish(exit: { status: number | null; signal: string | null }): Promise<void> {
    if (this.done) return Promise.resolve();
    this.done = true;
    this.meta.ended_at = new Date().toISOString();
    this.meta.exit_status = exit.status;
    this.meta.exit_signal = exit.signal;
    return new Promise((resolve) => {
      this.out.end(() => {
        this.store.finished(this);
        resolve();
      });
    });
  }
}

export class RecordingStore {
  private readonly index: Database<RecordingMeta, string>;
  readonly active = new Set<Recording>();
  /** Index writes not yet committed (lmdb-js puts commit asynchronously), overlaid on reads. */
  private readonly unsaved = new Map<string, RecordingMeta>();
  totalBytes = 0;

  constructor(env: RootDatabase, readonly dir: string, readonly opts: RecordingOptions) {
    this.index = env.openDB({ name: 'recordings', encoding: 'msgpack' });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Recordings that were open when the daemon stopped are closed as they are.
    for (const { value: m } of this.index.getRange()) {
      if (m.ended_at === null) {
        const st = this.statOf(m.id);
        m.ended_at = st ? st.mtime.toISOString() : m.started_at;
        m.bytes = st?.size ?? 0;
        m.interrupted = true;
        this.save(m);
      }
      this.totalBytes += m.bytes;
    }
  }

  private save(m: RecordingMeta): void {
    const copy = { ...m };
    this.unsaved.set(m.id, copy);
    void this.index.put(m.id, copy).then(() => { if (this.unsaved.get(m.id) === copy) this.unsaved.delete(m.id); });
  }

  private statOf(id: string): fs.Stats | undefined {
    try { return fs.statSync(this.fileOf(id)); } catch { return undefined; }
  }

  fileOf(id: string): string { return path.join(this.dir, `${id}.cast`); }

  /** Starts a recording, or returns undefined when recording is off. */
  start(m: Omit<RecordingMeta, 'id' | 'started_at' | 'ended_at' | 'exit_status' | 'exit_signal' | 'bytes' | 'output_bytes' | 'truncated'>, env: Record<string, string>): Recording | undefined {
    if (!this.opts.enabled) return undefined;
    const meta: RecordingMeta = { id: newId(), started_at: new Date().toISOString(), ended_at: null, exit_status: null, exit_signal: null, bytes: 0, output_bytes: 0, truncated: false, ...m };
    const title = m.kind === 'shell' ? `${m.user}@outpost shell` : `${m.user}@outpost: ${m.command}`;
    const rec = new Recording(this, meta, this.fileOf(meta.id), env, title);
    this.active.add(rec);
    this.save(meta);
    return rec;
  }

  finished(rec: Recording): void {
    this.active.delete(rec);
    this.save(rec.meta);
    this.prune();
  }

  /** Deletes the oldest finished recordings while the total is over the limit. */
  prune(): void {
    if (this.totalBytes <= this.opts.maxTotalBytes) return;
    const activeIds = new Set([...this.active].map((r) => r.meta.id));
    for (const { key, value } of this.index.getRange()) {
      if (this.totalBytes <= this.opts.maxTotalBytes) break;
      if (activeIds.has(key)) continue;
      try { fs.unlinkSync(this.fileOf(key)); } catch { /* already gone */ }
      this.totalBytes -= value.bytes;
      this.unsaved.delete(key);
      void this.index.remove(key);
    }
  }

  /** Newest first. Active recordings show their live figures. */
  list(limit = 1000): RecordingMeta[] {
    const byId = new Map<string, RecordingMeta>();
    for (const { key, value } of this.index.getRange({ reverse: true, limit })) byId.set(key, value);
    for (const [id, m] of this.unsaved) byId.set(id, m);
    for (const r of this.active) byId.set(r.meta.id, r.meta);
    return [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, limit).map((m) => ({ ...m }));
  }

  get(id: string): RecordingMeta | undefined {
    for (const r of this.active) if (r.meta.id === id) return { ...r.meta };
    return this.unsaved.get(id) ?? this.index.get(id);
  }
}
