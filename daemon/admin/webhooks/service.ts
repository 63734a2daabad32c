// The webhook API as plain functions (input → output, or a domain error of the registry in
// base/errors.ts, which the admin envelope renders like every admin error): create with
// validation, SSRF check and encryption of the write-only fields; list/get that never expose
// secret or header values; delete; the event catalog; the delivery log. routes.ts mounts them.
import { randomUUID } from 'node:crypto';
import { EVENT_TYPES } from './catalog';
import { BadRequest, NotFound, ValidationFailed } from '../../base/errors';
import type { EgressPolicy } from '../../net';
import type { AttemptRow, DeliveryRepo, StoredWebhook, WebhookRepo } from './ports';
import { pagination, parseListQuery, parsePageQuery, type Pagination } from './query';
import type { SecretBox } from '../../security/secret-box';
import { validateCreate } from './validate';

/** The public view of a webhook: what every response shows (reference `Webhook` schema). */
export interface WebhookView { id: string; url: string; subscribed_events: string[]; inserted_at: string; updated_at: string }

export interface AttemptView {
  id: string; delivery_id: string; event_id: string; event_type: string; attempt: number;
  outcome: AttemptRow['outcome']; status_code: number | null; duration_ms: number; error: string | null; inserted_at: string;
}

export interface WebhookServiceDeps {
  webhooks: WebhookRepo;
  deliveries: DeliveryRepo;
  box: SecretBox;
  /** The egress policy the URL must pass (daemon/net): http(s), no credentials, an allowed host. */
  policy: EgressPolicy;
  now?: () => Date;
  newId?: () => string;
}

/** AAD contexts: a sealed value only opens for the row and field it was sealed for. */
export const secretContext = (id: string) => `webhook:${id}:secret`;
export const headersContext = (id: string) => `webhook:${id}:headers`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function viewOf(w: StoredWebhook): WebhookView {
  return { id: w.id, url: w.url, subscribed_events: [...w.subscribed_events], inserted_at: w.inserted_at, updated_at: w.updated_at };
}

export class WebhookService {
  private readonly now: () => Date;
  private readonly newId: () => string;

  constructor(private readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
  }

  eventTypes(): string[] {
    return [...EVENT_TYPES];
  }

  async create(body: unknown): Promise<WebhookView> {
    const input = validateCreate(body);
    const denied = await this.deps.policy.checkUrl(input.url);
    if (denied) throw new ValidationFailed(undefined, { url: [denied] });
    const id = this.newId();
    const at = this.now().toISOString();
    const names = Object.keys(input.headers);
    const row: StoredWebhook = {
      id, url: input.url, subscribed_events: input.subscribed_events,
      secret_enc: this.deps.box.seal(input.secret, secretContext(id)),
      headers_enc: names.length ? this.deps.box.seal(JSON.stringify(input.headers), headersContext(id)) : null,
      inserted_at: at, updated_at: at,
    };
    await this.deps.webhooks.insert(row);
    return viewOf(row);
  }

  async list(query: Record<string, unknown>): Promise<{ data: WebhookView[]; pagination: Pagination }> {
    const q = parseListQuery(query);
    const { rows, total } = await this.deps.webhooks.list(q);
    return { data: rows.map(viewOf), pagination: pagination(q.page, q.page_size, total) };
  }

  async get(id: string): Promise<WebhookView> {
    return viewOf(await this.find(id));
  }

  async delete(id: string): Promise<void> {
    checkId(id);
    if (!(await this.deps.webhooks.delete(id))) throw new NotFound();
  }

  /** The delivery log of one webhook (every attempt), newest first. */
  async attempts(id: string, query: Record<string, unknown>): Promise<{ data: AttemptView[]; pagination: Pagination }> {
    // A bad query is 400 whether or not the webhook exists.
    const q = parsePageQuery(query);
    await this.find(id);
    const { rows, total } = await this.deps.deliveries.listAttempts(id, q.page, q.page_size);
    return {
      data: rows.map((a) => ({
        id: a.id, delivery_id: a.delivery_id, event_id: a.event_id, event_type: a.event_type, attempt: a.attempt, outcome: a.outcome,
        status_code: a.status_code, duration_ms: a.duration_ms, error: a.error, inserted_at: a.inserted_at,
      })),
      pagination: pagination(q.page, q.page_size, total),
    };
  }

  private async find(id: string): Promise<StoredWebhook> {
    checkId(id);
    const w = await this.deps.webhooks.get(id);
    if (!w) throw new NotFound();
    return w;
  }
}

function checkId(id: string): void {
  if (!UUID.test(id)) throw new BadRequest(undefined, { id: ['must be a UUID'] });
}


