#!/usr/bin/env node
// outpostd: the process entry. Parses configuration, starts the daemon, handles signals.
import { ConfigError, helpText, parseArgs, resolveConfig, type Config } from './config';
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
    cfg = resolveConfig(args);
    if (args.waitReady !== undefined) process.exit(await waitReady(cfg, args.waitReady));
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

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    daemon.close().then(
      () => process.exit(0),
      (err) => { log.error({ err }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/**
 * `--wait-ready N`: polls the configured daemon's /healthz until it answers 200 (exit 0) or N
 * seconds pass (exit 1). systemd's ExecStartPost uses it as the readiness check.
 */
async function waitReady(cfg: Config, seconds: number): Promise<number> {
  const host = cfg.bind === '0.0.0.0' ? '127.0.0.1' : cfg.bind === '::' ? '::1' : cfg.bind;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${cfg.api_port}/healthz`;
  const deadline = Date.now() + seconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) { process.stdout.write(`outpostd: ready at ${url}\n`); return 0; }
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stderr.write(`outpostd: not ready after ${seconds} s at ${url} (${last})\n`);
  return 1;
}

// Request handling contains its own failures (daemon/http answers 500 and keeps serving); a
// promise rejection nobody handled is logged here rather than ending every listener with it.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(`outpostd: unhandled promise rejection (still serving): ${(reason as Error)?.stack ?? String(reason)}\n`);
});

process.on('uncaughtException', (err) => {
  process.stderr.write(`outpostd: uncaught exception: ${err.stack ?? err}\n`);
  process.exit(1);
});

main().catch((err: Error) => {
  process.stderr.write(`outpostd: ${err?.stack ?? String(err)}\n`);
  process.exit(1);
});
