// The pure parts of webhooks, table-driven: the retry backoff (exponential, jittered, capped,
// at least Retry-After), Retry-After parsing and the date-only filter rules. The address policy
// (both WEBHOOK_ALLOW_PRIVATE_IPS settings, IPv4 embedded in IPv6, the lookup handed to sockets)
// is the shared egress policy: test/egress-policy.test.ts.
import t from 'tap';
import { WebhookDispatcher } from '../daemon/admin/webhooks/dispatcher';
import { parseDateBound } from '../daemon/admin/webhooks/query';
import { parseRetryAfter } from '../plugins/notifiers/http';

t.test('backoff: exponential, jittered within [50 %, 100 %], capped, at least Retry-After', async (t) => {
  const mk = (random: number) => new WebhookDispatcher({ retryBaseMs: 1000, retryMaxMs: 60_000, random: () => random } as never);
  const lo = mk(0);
  const hi = mk(1);
  t.same([1, 2, 3, 4].map((n) => lo.backoff(n)), [500, 1000, 2000, 4000]);
  t.same([1, 2, 3, 4].map((n) => hi.backoff(n)), [1000, 2000, 4000, 8000]);
  t.equal(hi.backoff(20), 60_000, 'capped');
  t.equal(lo.backoff(1, 30_000), 30_000, 'Retry-After wins when longer');
  t.equal(hi.backoff(3, 10), 4000, 'but never shortens the backoff');
  t.equal(lo.backoff(1, 3_600_000), 60_000, 'an absurd Retry-After is capped');
  t.equal(parseRetryAfter('120'), 120_000);
  t.equal(parseRetryAfter(undefined), undefined);
  t.equal(parseRetryAfter('soon'), undefined);
  const d = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())!;
  t.ok(d > 55_000 && d <= 60_000, 'HTTP-date form');
});

t.test('date-only filter bounds', async (t) => {
  t.equal(parseDateBound('2026-04-15', false), '2026-04-15T00:00:00.000Z');
  t.equal(parseDateBound('2026-04-15', true), '2026-04-15T23:59:59.999Z');
  t.equal(parseDateBound('2026-04-15T10:00:00Z', true), '2026-04-15T10:00:00.000Z');
  t.equal(parseDateBound('2026-04-15T12:00:00+02:00', false), '2026-04-15T10:00:00.000Z');
  t.equal(parseDateBound('2026-04-15T10:00', false), '2026-04-15T10:00:00.000Z', 'no zone = UTC');
  t.equal(parseDateBound('2026-02-30', false), null);
  t.equal(parseDateBound('15/04/2026', false), null);
});
