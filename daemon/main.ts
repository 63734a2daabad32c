#!/usr/bin/env node
// outpostd: the process entry. Parses configuration, starts the daemon, handles signals:
// SIGTERM/SIGINT drain and exit 0 (a second one exits at once, code 1), SIGHUP reloads the
// configuration. Tells systemd (Type=notify) when it is ready, reloading, stopping, alive.
import { ConfigError, diffConfig, helpText, parseArgs, resolveConfig, type Config, type ParsedArgs } from './config/config';
import { startDaemon, type Daemon } from './daemon';
import { createLogger, type Logger } from './base/log';
import { monotonicUsec, SdNotify } from './process/sd-notify';
import { VERSION } from './base/version';

/**
 * Best effort: stderr may be a closed pipe too, and its EPIPE must not become an uncaught
 * exception. (process.stdout is left alone: logs go to fd 1 through pino, see log.ts.)
 */
function stderr(line: string): void {
  if (process.stderr.listenerCount('error') === 0) process.stderr.on('error', () => undefined);
  try { process.stderr.write(line); } catch { /* nothing left to tell */ }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let cfg;
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
    if (args.help) { process.stdout.write(helpText() + '\n'); return; }
    if (args.version) { process.stdout.write(`outpostd ${VERSION}\n`); return; }
    cfg = resolveConfig(args);
    if (args.waitReady !== undefined) process.exit(await waitReady(cfg, args.waitReady));
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr(`outpostd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(cfg.log_level);
  // Reads (and removes from the environment) NOTIFY_SOCKET / LISTEN_FDNAMES / WATCHDOG_USEC.
  const notify = new SdNotify(log);
  if (notify.transport !== 'none') log.info({ transport: notify.transport, watchdog_ms: notify.watchdogMs }, 'sd_notify: reporting to systemd');
  notify.send({ STATUS: 'starting' });

  let stopping = false;
  let daemon: Daemon | undefined;
  const forceExit = (signal: string) => {
    stderr(`outpostd: second ${signal} while draining: exiting now, without finishing the drain\n`);
    try { log.warn({ signal }, 'second signal while draining: exiting now'); } catch { /* stdout gone */ }
    process.exit(1);
  };
  const stop = (signal: string) => {
    if (stopping) { forceExit(signal); return; }
    stopping = true;
    // Before startup finished: nothing to drain yet.
    if (!daemon) { stderr(`outpostd: ${signal} during startup: exiting\n`); process.exit(1); }
    log.info({ signal }, 'shutting down');
    notify.stopWatchdog();
    notify.send({ STOPPING: 1, STATUS: `draining (${signal})` });
    // The systemd-notify helper may still be sending STOPPING=1: give it a moment, not more.
    const exit = (code: number) => {
      void Promise.race([notify.flush(), new Promise((r) => setTimeout(r, 2000).unref())]).then(() => process.exit(code));
    };
    daemon.close().then(
      () => exit(0),
      (err) => { log.error({ err }, 'shutdown failed'); exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Until startup is done, a SIGHUP has nothing to reload; it must not kill the process (the
  // default action) either.
  let reload = () => log.warn('SIGHUP during startup: ignored');
  process.on('SIGHUP', () => reload());

  daemon = await startDaemon(cfg, log).catch((err: Error & { code?: string }) => {
    log.fatal({ err, code: err.code }, `startup failed: ${err.message}`);
    stderr(`outpostd: startup failed: ${err.message}\n`);
    process.exit(1);
  });
  if (stopping) return; // a signal came during startup and is handling the exit
  const running = daemon;
  const status = () => `serving on ${cfg.bind}:${running.port}${running.sshPort ? `, ssh ${running.sshPort}` : ''}${running.admin ? `, admin ${running.admin.port}` : ''}`;
  notify.send({ READY: 1, STATUS: status() });
  notify.startWatchdog();
  reload = () => {
    if (stopping) return;
    notify.send({ RELOADING: 1, MONOTONIC_USEC: String(monotonicUsec()), STATUS: 'reloading configuration' });
    try {
      reloadConfig(running, cfg, args, log);
    } catch (err) {
      log.error({ err }, 'reload failed; the daemon keeps running');
    }
    notify.send({ READY: 1, STATUS: status() });
  };
}

/**
 * SIGHUP: re-reads the config file and the environment (flags keep precedence), applies the
 * reloadable settings that changed and logs the others as needing a restart. An invalid file
 * changes nothing: the daemon keeps its running configuration and logs why.
 */
function reloadConfig(daemon: Daemon, cfg: Config, args: ParsedArgs, log: Logger): void {
  let next: Config;
  try {
    next = resolveConfig(args);
  } catch (err) {
    log.error({ config_file: cfg.config_file, err: (err as Error).message }, 'reload failed: the configuration is invalid; keeping the running one');
    return;
  }
  const changes = diffConfig(cfg, next);
  const shown = (c: (typeof changes)[number]) => (c.secret ? { key: c.key } : { key: c.key, from: c.from, to: c.to });
  const applied = changes.filter((c) => c.reloadable);
  const restart = changes.filter((c) => !c.reloadable);
  daemon.reload(next, applied.map((c) => c.key));
  log.info({ config_file: cfg.config_file, applied: applied.map(shown), needs_restart: restart.map(shown) },
    changes.length ? `configuration reloaded: ${applied.length} setting(s) applied, ${restart.length} need a restart` : 'configuration reloaded: nothing changed');
  // At debug level (possibly just turned on), where each setting now comes from.
  log.debug({ sources: cfg.sources }, 'configuration sources after the reload');
}

/**
 * `--wait-ready N`: polls the configured daemon's /healthz until it answers 200 (exit 0) or N
 * seconds pass (exit 1). A readiness check for scripts and for service managers without
 * Type=notify.
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
  stderr(`outpostd: not ready after ${seconds} s at ${url} (${last})\n`);
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
