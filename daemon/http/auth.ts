// Bearer-token check. Tokens are compared in constant time; a length mismatch compares the
// presented token against itself so its timing does not reveal the expected length.
import { sameBytes } from '../security/compare';

/**
 * api: the data plane (API_KEY); master: every route (MASTER_KEY); metrics: only routes declared
 * `auth: 'metrics'` (METRICS_KEY, for Prometheus), which also accept the other two.
 */
export type Scope = 'api' | 'master' | 'metrics';
export interface AuthKeys { api?: string; master?: string; metrics?: string }

export function prepareKeys(api?: string, master?: string, metrics?: string): AuthKeys {
  return { api: api || undefined, master: master || undefined, metrics: metrics || undefined };
}

export function checkBearer(keys: AuthKeys, header: string): Scope | 'none' {
  if (!header || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return 'none';
  const token = Buffer.from(header.slice(7).trim());
  // Check every key every time, so which one matched is not visible in the timing either.
  const isMaster = keys.master !== undefined && sameBytes(token, Buffer.from(keys.master));
  const isApi = keys.api !== undefined && sameBytes(token, Buffer.from(keys.api));
  const isMetrics = keys.metrics !== undefined && sameBytes(token, Buffer.from(keys.metrics));
  return isMaster ? 'master' : isApi ? 'api' : isMetrics ? 'metrics' : 'none';
}
