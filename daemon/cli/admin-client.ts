// Talking to an admin (the control plane): where it is and which key to use, from flags, the
// environment or ~/.config/outpost/config.toml, plus the Edge envelope ({data, meta}) and
// paginated lists.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { intOpt, type Opts } from './args';
import { Client, type Query } from './client';
import { UsageError } from './errors';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:4000';

export interface CliConfig { admin_url?: string; token?: string }

/** ~/.config/outpost/config.toml (or $XDG_CONFIG_HOME/outpost/config.toml, or $OUTPOST_CONFIG_FILE). */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.OUTPOST_CLI_CONFIG) return env.OUTPOST_CLI_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(base, 'outpost', 'config.toml');
}

export function loadCliConfig(env: NodeJS.ProcessEnv): CliConfig {
  const file = configPath(env);
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return {}; }
  let doc: Record<string, unknown>;
  try { doc = parseToml(text) as Record<string, unknown>; } catch (e) {
    throw new UsageError(`${file} is not valid TOML: ${(e as Error).message}`);
  }
  const out: CliConfig = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k !== 'admin_url' && k !== 'token') throw new UsageError(`${file}: unknown setting '${k}' (known: admin_url, token)`);
    if (typeof v !== 'string' || !v) throw new UsageError(`${file}: ${k} must be a non-empty string`);
    out[k] = v;
  }
  return out;
}

/** Client for the admin API: --url, $OUTPOST_ADMIN_URL, config admin_url, default; token likewise. */
export function makeAdminClient(opts: Opts, env: NodeJS.ProcessEnv, usage: string): AdminClient {
  const cfg = loadCliConfig(env);
  const url = (opts.url as string | undefined) || env.OUTPOST_ADMIN_URL || cfg.admin_url || DEFAULT_ADMIN_URL;
  const token = (opts.token as string | undefined) || env.OUTPOST_TOKEN || env.MASTER_KEY || env.API_KEY || cfg.token || undefined;
  const timeout = intOpt(opts, 'timeout', 1, 86_400, usage) ?? 30;
  return new AdminClient(new Client({ url, token, timeoutMs: timeout * 1000 }));
}

export interface Pagination { page: number; page_size: number; total_count: number; total_pages: number; has_next: boolean; next_page: number | null }
export interface Page<T> { data: T[]; pagination: Pagination; text: string }

export class AdminClient {
  constructor(readonly http: Client) {}

  private static segs(p: string): string[] {
    return p.split('/').filter(Boolean);
  }

  /** One call; returns `data` of the envelope and the raw text (for --json). */
  async call<T>(method: string, p: string, body?: unknown, query?: Query): Promise<{ data: T; text: string }> {
    const res = await this.http.request<{ data: T }>(method, AdminClient.segs(p), { body, query });
    return { data: res.json?.data as T, text: res.text };
  }

  async page<T>(p: string, query: Query = {}): Promise<Page<T>> {
    const res = await this.http.request<{ data: T[]; meta: { pagination: Pagination } }>('GET', AdminClient.segs(p), { query });
    return { data: res.json.data, pagination: res.json.meta.pagination, text: res.text };
  }

  /** Every page (page_size 100) until has_next is false; `limit` caps the rows. */
  async all<T>(p: string, query: Query = {}, limit = Infinity): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const r = await this.page<T>(p, { ...query, page, page_size: 100 });
      out.push(...r.data);
      if (!r.pagination?.has_next || out.length >= limit) break;
    }
    return out.slice(0, limit);
  }
}
