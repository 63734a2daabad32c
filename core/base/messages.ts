// Message shapes between the main thread and the data workers, in one place.

export const enum OpKind { Put = 1, Del = 2 }

export interface PutOp {
  kind: OpKind.Put;
  key: string; // storage key (namespace:key)
  value: Uint8Array;
  expiresAt: number; // 0 = never
  ifNotExists: boolean;
  casVersion: number; // -1 = no CAS
}

export interface DelOp {
  kind: OpKind.Del;
  key: string;
  casVersion: number;
}

export type WriteOp = PutOp | DelOp;

export const enum ResultKind { Ok = 0, Conflict = 1, NotFound = 2 }

/** Ok: `version` is the new version (put) or the deleted record's version (del).
 *  Conflict: `version` is the current version (0 when the key is absent). */
export interface WriteResult {
  r: ResultKind;
  version: number;
}

export interface BatchTask {
  type: 'batch';
  partition: number;
  ops: WriteOp[];
}

export interface ReapTask {
  type: 'reap';
  partition: number;
  now: number;
  limit: number;
}

export interface PingTask {
  type: 'ping';
}

/** A FloQL query over the time-series store, run off the HTTP thread. */
export interface TsQueryTask {
  type: 'ts-query';
  namespace: string;
  query: string;
  now: number;
  /** false: read raw points only (rollups give the same answer; this is for checks and benchmarks). */
  rollups?: boolean;
}

export type Task = BatchTask | ReapTask | PingTask | TsQueryTask;

export interface WorkerData {
  partitionPaths: string[];
  tsPath: string;
}

export interface ReapResult { removed: number; more: boolean }
