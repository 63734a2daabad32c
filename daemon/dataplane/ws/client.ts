// A small client for the binary batch protocol (daemon/dataplane/ws/batch.proto) over GET /api/v1/ws,
// on undici's WebSocket. Batches are correlated by batch_id, so many may be in flight at once.
//   const c = await BatchClient.connect('http://127.0.0.1:8080', token);
//   const [put, get] = await c.batch([{ kv_put: { namespace: 'app', key: 'k', value: bytes } }, { kv_get: { namespace: 'app', key: 'k' } }]);
import { WebSocket } from 'undici';
import { decodeResponse, encodeRequest, type Op, type Result } from './batch-schema';

export type { Op, Result } from './batch-schema';

interface Waiter { resolve(r: Result[]): void; reject(e: Error): void }

export class BatchClient {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private closed?: Error;
  /** Answers with batch_id 0: frames the server could not decode (should not happen with this client). */
  readonly orphans: Result[][] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') return; // JSON subscription frames are not ours
      let res;
      try { res = decodeResponse(new Uint8Array(ev.data as ArrayBuffer)); } catch (e) { this.fail(new Error(`undecodable batch response: ${(e as Error).message}`)); return; }
      const w = this.waiting.get(res.batch_id);
      if (!w) { this.orphans.push(res.results); return; }
      this.waiting.delete(res.batch_id);
      w.resolve(res.results);
    });
    ws.addEventListener('close', (ev) => this.fail(new Error(`websocket closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`)));
    ws.addEventListener('error', () => this.fail(new Error('websocket error')));
  }

  /** Opens `GET /api/v1/ws` on an http(s):// or ws(s):// base URL. */
  static connect(url: string, token?: string): Promise<BatchClient> {
    const u = new URL(url.replace(/^http/, 'ws'));
    if (!u.pathname.endsWith('/api/v1/ws')) u.pathname = u.pathname.replace(/\/$/, '') + '/api/v1/ws';
    if (token) u.searchParams.set('token', token);
    const ws = new WebSocket(u.toString());
    return new Promise((resolve, reject) => {
      const onErr = () => reject(new Error(`websocket connection to ${u.origin} failed`));
      ws.addEventListener('error', onErr, { once: true });
      ws.addEventListener('open', () => { ws.removeEventListener('error', onErr); resolve(new BatchClient(ws)); }, { once: true });
    });
  }

  /** Sends the ops as one batch; resolves with one Result per op (or one batch-level error). */
  batch(ops: Op[]): Promise<Result[]> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    const frame = encodeRequest({ batch_id: id, ops });
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try { this.ws.send(frame); } catch (e) { this.waiting.delete(id); reject(e as Error); }
    });
  }

  /** In-flight batches. */
  get pending(): number { return this.waiting.size; }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.addEventListener('close', () => resolve(), { once: true });
      this.ws.close();
    });
  }

  private fail(e: Error): void {
    this.closed ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
