#!/usr/bin/env node
// outpostd: the process entry. Parses configuration, starts the daemon, handles signals.
import { execFile } from 'node:child_process';
import { ConfigError, helpText, loadConfig, parseArgs } from './config';
import { startDaemon } from './daemon';
import { createLogger } from './log';
import { VERSION } from './version';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let cfg;
  try {
    const args = parseArgs(argv);
    if (args.help) { process.stdout.write(helpText() + '\n'); return; }
    if (args.version) { process.stdout.write(`outpostd ${VERSION}\n`); return; }
    cfg = loadConfig(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`outpostd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.log_level);
  const daemon = await startDaemon(cfg, log).catch((err: Error & { code?: string }) => {
    log.fatal({ err, code: err.code }, `startup failed: ${err.message}`);
    process.stderr.write(`outpostd: startup failed: ${err.message}\n`);
    process.exit(1);
  });
  notifySystemd('READY=1');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    notifySystemd('STOPPING=1');
    daemon.close().then(
      () => process.exit(0),
      (err) => { log.error({ err }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** sd_notify through systemd-notify; the unit sets NotifyAccess=all for it. */
function notifySystemd(state: string): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, state], () => { /* best effort */ });
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`outpostd: uncaught exception: ${err.stack ?? err}\n`);
  process.exit(1);
});

void main();
