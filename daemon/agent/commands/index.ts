// The PTY command runner of the agent (see docs/commands.md).
export { CommandService, MAX_QUEUED, MAX_STORED, REASON_RESTARTED, REASON_SHUTDOWN, type CommandOptions, type CommandStats, type CreateRequest, type OutputListener, type WireExecution } from './service';
export { STATUSES, EXIT_TERMINATED, type Execution, type Status } from './types';
export { commandOutputFeed } from './ws-feed';
