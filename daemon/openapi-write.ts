// `npm run openapi`: writes docs/openapi.json from a daemon started on a throw-away data dir,
// so the committed document is exactly what /openapi.json serves (a test compares them).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from './config/config';
import { startDaemon } from './daemon';
import { createLogger } from './base/log';
import { buildOpenApi } from './dataplane/openapi';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-openapi-'));
  try {
    const cfg = loadConfig(['--data-dir', dir, '--api-port', '0', '--log-level', 'silent'], {});
    const d = await startDaemon(cfg, createLogger('silent'));
    const out = path.join(__dirname, '..', '..', 'docs', 'openapi.json');
    fs.writeFileSync(out, JSON.stringify(buildOpenApi(d.http.routes, d.http.wsRoutes), null, 2) + '\n');
    await d.close();
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
