import fs from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  // dist/daemon/base → the repo root (or, in a tree that ships daemon/ at the top, two levels up).
  for (const p of [path.join(__dirname, '..', '..', '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try { return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version; } catch { /* try the next */ }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
