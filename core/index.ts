// Public surface of the data engine: open it with openDataPlane(), close it with close().
export { DataPlane, openDataPlane, type DataPlaneOptions } from './data-plane';
export type { KvStore, KvOptions, PutRequest, PutOutcome, DelOutcome, KvChange, PartitionStats } from './kv/store';
export type { KvEntry } from './kv/reads';
export type { Reaper } from './kv/reaper';
export { WRITE_MODES, type WriteMode, type WriteModeName, type WriteContext } from './kv/write-modes';
export { CoreError, CoreErrorCodes, isCoreError, type CoreErrorCode } from './base/errors';
export { NAMESPACE_RE, type NamespaceInfo, type Namespaces } from './base/namespaces';
export { HEADER_BYTES } from './kv/record';
