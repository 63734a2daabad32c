// What the commands API tells the agents, after the store committed: new executions go to the
// connected nodes at once (the others get theirs on tunnelUp, from the ResumeSet), cancels go to
// the node holding the execution, and a sweeper expires open executions past their deadline
// (cancelling the sent ones on their agents). The hub is the small interface below, so tests and
// the admin can hand in the real TunnelHub.
import type { Logger } from '../../base/log';
import type { CommandDeliver } from '../../tunnel/schema';
import type { Db } from '../store/db';
import { expireDue, type Delivery } from './store';

const BATCH = 1000;

export interface CommandHub {
  deliverCommand(nodeId: string, d: CommandDeliver): boolean;
  cancelCommand(nodeId: string, executionId: string): boolean;
}

export class CommandDispatch {
  private timer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly db: Db, private readonly hub: CommandHub | undefined, private readonly log: Logger) {}

  /** Sends each execution to its node if connected; returns how many went out now. */
  deliver(deliveries: Delivery[]): number {
    if (!this.hub) return 0;
    let n = 0;
    for (const d of deliveries) if (this.hub.deliverCommand(d.node_id, d.deliver)) n++;
    return n;
  }

  /** Asks the node to stop an execution (false when it is not connected: tunnelUp re-sends it if still owed). */
  cancel(nodeId: string | null, executionId: string): boolean {
    return Boolean(nodeId && this.hub?.cancelCommand(nodeId, executionId));
  }

  /** One sweep: expire what is due, then cancel the sent ones on their agents. */
  async sweep(now = new Date()): Promise<number> {
    let total = 0;
    for (;;) {
      const { expired, sent } = await expireDue(this.db, now, BATCH);
      for (const e of sent) this.cancel(e.node_id, e.id);
      total += expired;
      if (expired < BATCH) return total;
    }
  }

  /** Runs the expiry sweeper every `intervalMs` (one sweep at a time). */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = true;
      this.sweep().catch((err) => this.log.warn({ err }, 'command expiry sweep failed')).finally(() => { this.sweeping = false; });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
