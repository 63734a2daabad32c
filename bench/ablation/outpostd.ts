#!/usr/bin/env node
// outpostd with one of the ablation's write designs the engine does not carry (modes.ts):
//   node dist/bench/ablation/outpostd.js --ablation-write-mode inline|per-op [outpostd flags]
// Every other flag, variable and config file works as for dist/daemon/main.js; SIGTERM/SIGINT
// drain and exit 0. For bench/run.ts's `ablation` section and the durability tests, never for
// production (no systemd notify, no SIGHUP reload).
import { ConfigError, loadConfig } from '../../daemon/config/config';
import { startDaemon } from '../../daemon/daemon';
import { createLogger } from '../../daemon/base/log';
import { ABLATION_MODES } from './modes';

export const ABLATION_FLAG = '--ablation-write-mode';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(ABLATION_FLAG);
  const name = i >= 0 ? argv[i + 1] : undefined;
  const mode = name === undefined ? undefined : ABLATION_MODES[name];
  if (!mode) {
    process.stderr.write(`usage: outpostd.js ${ABLATION_FLAG} ${Object.keys(ABLATION_MODES).join('|')} [outpostd flags]\n`);
    process.exit(2);
  }
  argv.splice(i, 2);
  let cfg;
  try {
    cfg = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`outpostd (ablation): ${err.message}\n`); process.exit(2); }
    throw err;
  }
  const log = createLogger(cfg.log_level);
  const daemon = await startDaemon(cfg, log, { writeMode: mode });
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    daemon.close().then(() => process.exit(0), (err) => { log.error({ err }, 'shutdown failed'); process.exit(1); });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`outpostd (ablation): startup failed: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
