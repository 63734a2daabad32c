export { Engine, type EngineOptions, type WriteMode, type KvEntry, type PutOutcome, type DelOutcome, type PartitionStats, type KvChange } from './engine';
export { CoreError, CoreErrorCodes, isCoreError, type CoreErrorCode } from './errors';
export { NAMESPACE_RE, type NamespaceInfo } from './namespaces';
export { HEADER_BYTES } from './kv/record';
