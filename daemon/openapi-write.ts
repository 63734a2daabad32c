// `npm run openapi`: writes docs/openapi.json from a daemon started on a throw-away data dir,
// so the committed document is exactly what /openapi.json serves (a test compares them), and
// docs/asyncapi.json, the admin's /asyncapi.json for the default settings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asyncApiFor } from './admin/api/asyncapi';
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
    const events = path.join(__dirname, '..', '..', 'docs', 'asyncapi.json');
    fs.writeFileSync(events, JSON.stringify(asyncApiFor(cfg), null, 2) + '\n');
    process.stdout.write(`wrote ${events}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
