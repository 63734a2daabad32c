// The app-runtime extension point (process, docker): what runs the replicas of an app on a host
// (Orchestry apps; the agent balances traffic over them). No implementation ships yet; the
// registry has the slot, chosen by the app's `runtime` name.
//
// The contract:
// - `start` is idempotent per replica id: starting an id that is already running returns its
//   handle, it never starts a second copy (the controller retries after a restart).
// - `stop` sends the replica a graceful stop, waits up to `graceMs`, then kills; stopping an
//   unknown or stopped id resolves (idempotent).
// - `status` reports what the runtime sees now; it never blocks on the replica.
// - Errors carry a `code` (branch on it). `close()` is idempotent and leaves replicas running
//   (they belong to the host, not to this process; the next start adopts them by id).

export interface ReplicaSpec {
  /** Stable id chosen by the controller: the idempotency key of start/stop. */
  id: string;
  app: string;
  /** Process: argv; docker: the image's command override. */
  command?: readonly string[];
  /** Docker: the image reference. */
  image?: string;
  env: Readonly<Record<string, string>>;
  /** Port the replica listens on (loopback), for the balancer. */
  port: number;
}

export type ReplicaState = 'starting' | 'running' | 'exited' | 'unknown';

export interface ReplicaStatus {
  id: string;
  state: ReplicaState;
  exitCode: number | null;
  /** ISO-8601 UTC, when it last started. */
  startedAt: string | null;
}

export interface AppRuntime {
  readonly kind: string;
  start(spec: ReplicaSpec, signal?: AbortSignal): Promise<ReplicaStatus>;
  stop(id: string, graceMs: number): Promise<void>;
  status(id: string): Promise<ReplicaStatus>;
  close(): Promise<void>;
}
