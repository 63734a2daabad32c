// The backup-target extension point (file://, s3://): where consistent snapshots of the data
// plane (taken from LMDB read transactions) and of the admin store are kept. No implementation
// ships yet; the registry has the slot, chosen by the scheme of the target URL.
//
// The contract:
// - `put` is atomic: an object is visible under its name only once it is complete and durable
//   (file://: written to a temp name, fsynced, renamed; s3://: multipart upload completed). A
//   failed or aborted put leaves nothing under the name. Putting the same name again replaces
//   it whole, so a retried backup is idempotent (the name is the idempotency key).
// - `get` streams an object back exactly as put; a missing name rejects with code
//   `BACKUP_NOT_FOUND`. Errors carry a `code` (branch on it, not on the class).
// - `close()` is idempotent; puts in flight are aborted (and so leave nothing).

export interface BackupObject {
  name: string;
  bytes: number;
  /** ISO-8601 UTC. */
  modified: string;
}

export interface BackupTarget {
  readonly kind: string;
  /** URL scheme this target serves (`file`, `s3`). */
  readonly scheme: string;
  put(name: string, body: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<BackupObject>;
  get(name: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>>;
  list(prefix: string, signal?: AbortSignal): Promise<BackupObject[]>;
  /** False when there was nothing to delete. */
  delete(name: string): Promise<boolean>;
  close(): Promise<void>;
}
