// The agent's TunnelStore without disk: the outbox and delivery records in Maps, with the
// behaviour of LmdbTunnelStore (daemon/agent/tunnel/store.ts). For simulated agents in tests and
// the tunnel benchmark, where thousands of agents must not each open an LMDB environment.
import { encodeEnvelope, type ReliableBody } from '../../daemon/tunnel/schema';
import type { DeliveryRecord, TunnelStore } from '../../daemon/agent/tunnel/store';

export class MemoryTunnelStore implements TunnelStore {
  private readonly out = new Map<number, Uint8Array>();
  private readonly deliv = new Map<string, DeliveryRecord>();
  private lastSeq = 0;
  get pending(): number { return this.out.size; }
  async append(body: ReliableBody): Promise<{ seq: number; frame: Uint8Array }> {
    const seq = ++this.lastSeq;
    const frame = encodeEnvelope({ ...body, seq });
    this.out.set(seq, frame);
    return { seq, frame };
  }
  *unacked(): Iterable<{ seq: number; frame: Uint8Array }> { for (const [seq, frame] of this.out) yield { seq, frame }; }
  async ackUpTo(seq: number): Promise<void> { for (const k of this.out.keys()) { if (k > seq) break; this.out.delete(k); } }
  delivery(id: string): DeliveryRecord | undefined { return this.deliv.get(id); }
  async putDelivery(id: string, r: DeliveryRecord): Promise<void> { this.deliv.set(id, r); }
  *deliveries(): Iterable<{ id: string; rec: DeliveryRecord }> { for (const [id, rec] of this.deliv) yield { id, rec }; }
  async close(): Promise<void> { /* nothing to release */ }
}
