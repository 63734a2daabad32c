// The error registry (daemon/base/errors.ts) and docs/errors.md agree both ways: every code of
// each wire family is documented with its status, and every documented code is registered. Plus
// the registry's contract: createError classes, and one domain error rendered in both families.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CoreErrorCodes } from '../core';
import {
  AdminErrors, adminBody, BadRequest, CodedError, conflict, CORE_TO_HTTP, createError, FloErrors, floBody, HttpError, Internal, invalid,
  NotFound, toHttpError, Unavailable, ValidationFailed,
} from '../daemon/base/errors';
import { CoreError } from '../core';
import { ENROLL_REFUSALS } from '../daemon/tunnel/enrollment';
import { ROOT } from './helpers/daemon';

const doc = fs.readFileSync(path.join(ROOT, 'docs/errors.md'), 'utf8');

/** The text of the section `## <title…>` up to the next `## `. */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}`);
  if (start < 0) throw new Error(`docs/errors.md has no section "## ${title}"`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** Table rows of a text, as cells (the header and separator rows dropped). */
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => /^\|.*\|$/.test(l.trim()) && !/^\|[-| ]+\|$/.test(l.trim()))
    .map((l) => l.trim().slice(1, -1).split('|').map((c) => c.trim()))
    .filter((cells) => cells.some((c) => /^`/.test(c)));
}

const unquote = (c: string) => c.replace(/^`|`$/g, '');

/** `| 404 | \`not_found\` | … |` rows → code → status (the first table of the text). */
function statusTable(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows(text)) if (/^\d{3}$/.test(r[0]) && r.length === 3) out.set(unquote(r[1]), Number(r[0]));
  return out;
}

const asMap = (table: Readonly<Record<string, { status: number }>>) => new Map(Object.entries(table).map(([c, { status }]) => [c, status]));
const sorted = (m: Map<string, unknown>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));

t.test('Flo family (data plane): the registry and the doc table are the same codes with the same statuses', async (t) => {
  const documented = statusTable(section('Data plane'));
  t.ok(documented.size > 5, 'the table was read');
  t.same(sorted(documented), sorted(asMap(FloErrors)));
});

t.test('Edge Admin family (control plane): the registry and the doc table are the same codes with the same statuses', async (t) => {
  const control = section('Control plane');
  const documented = statusTable(control.slice(0, control.indexOf('POST /api/v1/agent/enroll')));
  t.ok(documented.size > 5, 'the table was read');
  t.same(sorted(documented), sorted(asMap(AdminErrors)));
});

t.test('enrollment refusals: every reason documented with its code and status, and no other', async (t) => {
  const control = section('Control plane');
  const table = rows(control.slice(control.indexOf('POST /api/v1/agent/enroll'))).filter((r) => r.length === 4 && /^\d{3}$/.test(r[0]));
  const documented = new Map(table.map((r) => [unquote(r[2]), { code: unquote(r[1]), status: Number(r[0]) }]));
  const registered = new Map(Object.entries(ENROLL_REFUSALS).map(([reason, code]) => [reason, { code, status: FloErrors[code].status }]));
  t.same(sorted(documented), sorted(registered));
});

t.test('data engine: every CORE_ code documented with the status it answers with, and no other', async (t) => {
  const table = rows(section('Data engine')).filter((r) => /^`CORE_/.test(r[0]));
  const documented = new Map(table.map((r) => [unquote(r[0]), r[1]]));
  t.same([...documented.keys()].sort(), Object.keys(CoreErrorCodes).sort());
  for (const [code, status] of documented) {
    // "—": never answered over HTTP (startup only).
    if (status === '—') continue;
    t.equal(Number(status), FloErrors[CORE_TO_HTTP[code as keyof typeof CORE_TO_HTTP]].status, code);
  }
});

t.test('createError: a class with code, statusCode and a default message; registered once', async (t) => {
  const Teapot = createError('test_teapot', 418, 'I am a teapot');
  t.equal(Teapot.code, 'test_teapot');
  t.equal(Teapot.statusCode, 418);
  t.equal(Teapot.name, 'TestTeapotError');
  const e = new Teapot();
  t.ok(e instanceof Error && e instanceof CodedError && e instanceof Teapot && e instanceof HttpError);
  t.equal(e.code, 'test_teapot');
  t.equal(e.statusCode, 418);
  t.equal(e.status, 418);
  t.equal(e.message, 'I am a teapot');
  t.equal(e.name, 'TestTeapotError');
  t.same(e.details, {});
  const cause = new Error('below');
  const f = new Teapot('short and stout', { spout: 1 }, undefined, { cause });
  t.equal(f.message, 'short and stout');
  t.same(f.details, { spout: 1 });
  t.equal(f.cause, cause, 'wraps with cause');
  t.throws(() => createError('test_teapot', 418, 'again'), /registered twice/);
  t.throws(() => new CodedError('no_such_code' as never), /unregistered error code/);
});

t.test('one domain error, two wire families', async (t) => {
  const e = new NotFound('cluster "x" not found');
  t.same(JSON.parse(floBody(e)), { error: 'not_found', message: 'cluster "x" not found', details: {} });
  const a = adminBody(e, 'req-1');
  t.equal(a.status, 404);
  const body = JSON.parse(a.body);
  t.same(body.error, { code: 'not_found', message: 'cluster "x" not found' }, 'empty details are left out');
  t.equal(body.meta.request_id, 'req-1');
  t.ok(Date.parse(body.meta.timestamp));

  // Field errors: a list in the Flo shape, field → messages (prefix dropped) in the admin's.
  const v = invalid({ 'body.name': 'is reserved', 'body.constructor': 'unknown field' });
  t.same(JSON.parse(floBody(v)).details, { fields: [{ field: 'body.name', message: 'is reserved' }, { field: 'body.constructor', message: 'unknown field' }] });
  const ad = JSON.parse(adminBody(v, 'r').body).error;
  t.equal(ad.code, 'validation_failed');
  t.same(ad.details, { name: ['is reserved'], constructor: ['unknown field'] }, 'a field named constructor is an ordinary key');
  t.same(JSON.parse(adminBody(conflict('taken', { name: 'has already been taken' }), 'r').body).error.details, { name: ['has already been taken'] });
  // Details already in the admin shape pass through.
  t.same(JSON.parse(adminBody(new BadRequest(undefined, { id: ['must be a UUID'] }), 'r').body).error, { code: 'bad_request', message: 'Invalid request parameters', details: { id: ['must be a UUID'] } });

  // The admin family's own spellings, and a body's schema violation as 422.
  t.equal(JSON.parse(adminBody(new Internal(), 'r').body).error.code, 'internal_error');
  t.equal(JSON.parse(floBody(new Internal())).error, 'internal');
  const u = adminBody(new Unavailable('draining'), 'r');
  t.equal(u.status, 503);
  t.equal(JSON.parse(u.body).error.code, 'service_unavailable');
  const schema = Object.assign(new BadRequest('body.x must be integer', { fields: [{ field: 'body.x', message: 'must be integer' }] }), { where: 'body' });
  const s = adminBody(schema, 'r');
  t.equal(s.status, 422);
  t.same(JSON.parse(s.body).error, { code: 'validation_failed', message: 'body.x must be integer', details: { x: ['must be integer'] } });
  t.equal(schema.status, 400, 'the Flo family keeps it a 400');
  t.equal(new ValidationFailed().statusCode, 422);
});

t.test('toHttpError: coded errors as they are, engine errors by table, anything else internal', async (t) => {
  const c = new NotFound();
  t.equal(toHttpError(c), c);
  const fromCore = toHttpError(new CoreError('CORE_VALUE_TOO_LARGE', 'value is 2 MiB', { max: 1 }));
  t.equal(fromCore.code, 'payload_too_large');
  t.equal(fromCore.status, 413);
  t.same(fromCore.details, { max: 1 });
  // A plain object from a worker thread counts too (callers branch on code, not class).
  t.equal(toHttpError({ code: 'CORE_CLOSED', message: 'closed' }).code, 'unavailable');
  const other = toHttpError(new Error('secret detail'));
  t.equal(other.code, 'internal');
  t.equal(other.message, 'internal server error', 'the cause of a bug is not answered');
});
