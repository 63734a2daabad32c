// Talking to an admin (the control plane): where it is and which key to use (config.ts), plus
// the Edge envelope ({data, meta}) and paginated lists.
import type { Opts } from './args';
import { Client, type Query } from './client';
import { requestTimeoutMs } from './command';
import { DEFAULT_ADMIN_URL, endpoint, readCa } from './config';

export { DEFAULT_ADMIN_URL };

/** Client for the admin API; URL, token and CA per the one precedence of config.ts. */
export function makeAdminClient(opts: Opts, env: NodeJS.ProcessEnv, usage: string): AdminClient {
  const ep = endpoint('admin', opts, env);
  return new AdminClient(new Client({ url: ep.url, token: ep.token, ca: ep.ca ? readCa(ep.ca) : undefined, timeoutMs: requestTimeoutMs(opts, usage) }));
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
