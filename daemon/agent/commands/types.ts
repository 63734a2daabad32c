// The command execution record: the Edge Admin reference's CommandExecutionResponse fields
// (same names), plus the agent's own: why it failed (`error`) and whether its output was cut.
export const STATUSES = ['pending', 'sent', 'completed', 'cancelled', 'expired'] as const;
export type Status = (typeof STATUSES)[number];

export const TERMINAL: ReadonlySet<Status> = new Set<Status>(['completed', 'cancelled', 'expired']);

/** Exit code reported for a command killed on cancel, timeout or shutdown (128 + SIGTERM). */
export const EXIT_TERMINATED = 143;

export interface Execution {
  id: string;
  command_id: string;
  node_id: string;
  command_text: string;
  status: Status;
  /** null until the command ends; null too when its outcome is unknown (see `error`). */
  exit_code: number | null;
  output: string | null;
  output_truncated: boolean;
  /** Bytes left out between the kept head and tail of the output. */
  output_dropped_bytes: number;
  /** Why the agent could not run the command to its own end (timeout, missing account, restart…). */
  error: string | null;
  timeout: number | null;
  expired_at: string | null;
  /** Local API: always false / null (kept for the reference's shape). */
  target_all: boolean;
  cluster_name: string | null;
  inserted_at: string;
  updated_at: string;
  /** When the command started running (the reference's "sent to the agent"). */
  sent_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  /** Store order (FIFO for the queue, newest first for lists); not part of the wire shape. */
  seq: number;
}

/** The wire shape: everything but the store's sequence number. */
export function toWire(e: Execution): Omit<Execution, 'seq'> {
  const { seq: _seq, ...wire } = e;
  return wire;
}
