// The proxy password of user `_`: PROXY_PASSWORD (proxy.password) when set, otherwise 32 random
// bytes (base64url) generated on first start and kept in <data_dir>/agent/proxy_password (0600).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../base/log';
import { writeFileAtomic } from '../../base/atomic-file';

export const PROXY_USER = '_';

export interface ProxyPassword { password: string; source: 'config' | 'file' | 'generated'; file?: string }

export function loadProxyPassword(configured: string | undefined, dataDir: string, log: Logger): ProxyPassword {
  if (configured) {
    log.info('proxy password: from proxy.password (PROXY_PASSWORD)');
    return { password: configured, source: 'config' };
  }
  const dir = path.join(dataDir, 'agent');
  const file = path.join(dir, 'proxy_password');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const existing = fs.readFileSync(file, 'utf8').trim();
    if (existing) {
      const mode = fs.statSync(file).mode & 0o777;
      if (mode & 0o077) {
        fs.chmodSync(file, 0o600);
        log.warn({ file, was: mode.toString(8) }, 'proxy password file was readable by others; permissions reset to 0600');
      }
      log.info({ file }, 'proxy password: stored in the data dir (user "_")');
      return { password: existing, source: 'file', file };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = crypto.randomBytes(32).toString('base64url');
  writeFileAtomic(file, `${password}\n`);
  log.info({ file }, 'proxy password: generated and stored in the data dir (user "_")');
  return { password, source: 'generated', file };
}
