// Exit codes and the errors that carry them. Every failure of the CLI ends up as one
// CliError: its message goes to stderr and its code becomes the process exit code.

export const EXIT = {
  OK: 0,
  /** The request reached the server and failed: not found, conflict, rejected, server error. */
  FAILED: 1,
  /** The command line is wrong; nothing was sent. */
  USAGE: 2,
  /** The server could not be reached (refused, DNS, timeout, TLS). */
  CONNECT: 3,
} as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.FAILED) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A usage error: printed as one line and a hint naming the help to read (`cmd` is the command
 * path, e.g. "kv put", filled in by the dispatcher), never the whole help. `usage` is kept for
 * callers that want the text.
 */
export class UsageError extends CliError {
  cmd?: string;
  constructor(message: string, readonly usage?: string) {
    super(message, EXIT.USAGE);
    this.name = 'UsageError';
  }

  get hint(): string {
    return `run 'outpost ${this.cmd ? `${this.cmd} ` : ''}--help' for usage`;
  }
}
