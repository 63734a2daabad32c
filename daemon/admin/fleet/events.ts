// Events.Type: the catalog of event types, as data.
import type { HttpServer, Req, Res } from '../../http';
import { EVENT_TYPES } from '../store/events';
import { ok } from '../api/envelope';
import { single } from '../api/schemas';

export function eventTypeRoutes(http: HttpServer): void {
  http.add({
    method: 'get', path: '/api/v1/event_types', auth: 'api', tags: ['Events.Type'],
    summary: "Every event type the admin publishes, in catalog order (valid values of a webhook's subscribed_events)",
    responses: { 200: { description: 'catalog', schema: single({ type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } }) } },
    handler(req: Req, res: Res) { ok(req, res, EVENT_TYPES); },
  });
}
