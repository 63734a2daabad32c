// Nodes.EnrollmentKey routes: create per cluster (`default` = DEFAULT_CLUSTER_NAME), the public
// route (only with PUBLIC_ENROLLMENT_KEY_ENABLED=true and DEFAULT_CLUSTER_NAME), list with the
// reference's filters, get, patch, delete. The key blob holds the admin URLs and the secret.
import { deleteRoute, listRoute } from '../api/routes';
import { sql } from 'kysely';
import { Forbidden, NotFound } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import type { AdminCtx } from '../api/context';
import { clusterByName } from '../store/clusters';
import type { DbOrTrx } from '../store/db';
import { encodeEnrollmentKey, newKeySecret } from '../store/enrollment-key';
import type { ClusterRow, EnrollmentKeyRow } from '../store/schema';
import { iso, newId } from '../store/util';
import { invalid, notFound, ok } from '../api/envelope';
import { filterDate, isSetFilter, type ListSpec } from '../api/list';
import { enrollmentKeySchema, nameParam, single, uuidParam } from '../api/schemas';

const TAGS = ['Nodes.EnrollmentKey'];
const nowParam = () => iso();

export const enrollmentKeyListSpec: ListSpec = {
  filters: {
    cluster_name: { kind: 'text', expr: 'clusters.name', description: 'Filter by cluster name (exact match or wildcard: prod*, *east)' },
    name: { kind: 'contains', expr: 'enrollment_keys.name', description: 'Filter by enrollment key name (case-insensitive substring or wildcard)' },
    key: { kind: 'exact', expr: 'enrollment_keys.key', description: 'Filter by exact key value' },
    uses_remaining: { kind: 'int', expr: 'enrollment_keys.uses_remaining', ops: ['eq', 'gte', 'lte'], minimum: 0, description: 'Filter by uses_remaining (use is_unlimited=true to find unlimited keys)' },
    has_expiry: isSetFilter('enrollment_keys.expired_at', 'true returns keys with expired_at present, false keys with no expiry'),
    has_name: isSetFilter('enrollment_keys.name', 'true returns labelled keys, false unlabelled ones (e.g. public-route keys)'),
    is_expired: { kind: 'bool', where: (v) => (v ? sql`(enrollment_keys.expired_at is not null and enrollment_keys.expired_at <= ${nowParam()})` : sql`(enrollment_keys.expired_at is null or enrollment_keys.expired_at > ${nowParam()})`), description: 'true returns keys whose expired_at is in the past, false active keys (including those with no expiry)' },
    is_never_used: { kind: 'bool', where: (v) => (v ? sql`enrollment_keys.last_used_at is null` : sql`enrollment_keys.last_used_at is not null`), description: 'true returns keys never used' },
    is_spent: { kind: 'bool', where: (v) => (v ? sql`enrollment_keys.uses_remaining = 0` : sql`(enrollment_keys.uses_remaining is null or enrollment_keys.uses_remaining > 0)`), description: 'true returns keys with uses_remaining == 0' },
    is_unlimited: { kind: 'bool', where: (v) => (v ? sql`enrollment_keys.uses_remaining is null` : sql`enrollment_keys.uses_remaining is not null`), description: 'true returns unlimited keys (uses_remaining is null)' },
    expired_at: { kind: 'date', expr: 'enrollment_keys.expired_at' },
    last_used_at: { kind: 'date', expr: 'enrollment_keys.last_used_at' },
    inserted_at: { kind: 'date', expr: 'enrollment_keys.inserted_at' },
    updated_at: { kind: 'date', expr: 'enrollment_keys.updated_at' },
  },
  sort: {
    name: 'enrollment_keys.name', cluster_name: 'clusters.name', uses_remaining: 'enrollment_keys.uses_remaining', expired_at: 'enrollment_keys.expired_at',
    last_used_at: 'enrollment_keys.last_used_at', inserted_at: 'enrollment_keys.inserted_at', updated_at: 'enrollment_keys.updated_at', id: 'enrollment_keys.id',
  },
  defaultSort: [['inserted_at', 'desc']],
  id: 'enrollment_keys.id',
};

type KeyWithCluster = EnrollmentKeyRow & { cluster_name: string };

export function keyView(r: KeyWithCluster): Record<string, unknown> {
  return { id: r.id, cluster_name: r.cluster_name, name: r.name, key: r.key, uses_remaining: r.uses_remaining, expired_at: r.expired_at, last_used_at: r.last_used_at, inserted_at: r.inserted_at, updated_at: r.updated_at };
}

const withCluster = (db: DbOrTrx) => db.selectFrom('enrollment_keys').innerJoin('clusters', 'clusters.id', 'enrollment_keys.cluster_id');

async function getKey(db: DbOrTrx, id: string): Promise<KeyWithCluster> {
  const r = await withCluster(db).selectAll('enrollment_keys').select('clusters.name as cluster_name').where('enrollment_keys.id', '=', id).executeTakeFirst();
  if (!r) throw notFound('enrollment key', id);
  return r;
}

/** A future ISO datetime from a body field, or a 422 naming it. */
function futureDate(value: string, field: string, mustBeFuture: boolean): string {
  let at: string;
  try { at = filterDate(value, 'gte', field); } catch { throw invalid({ [field]: 'must be an ISO 8601 datetime' }); }
  if (!/T/i.test(value)) throw invalid({ [field]: 'must be an ISO 8601 datetime (with a time)' });
  if (mustBeFuture && at <= iso()) throw invalid({ [field]: 'must be in the future' });
  return at;
}

interface KeyInput { name?: string | null; uses_remaining?: number | null; expired_at?: string | null }

/** Creates an enrollment key in a cluster (uses_remaining defaults to 1; null = unlimited). */
export async function createEnrollmentKey(ctx: AdminCtx, cluster: ClusterRow, input: KeyInput): Promise<KeyWithCluster> {
  const id = newId();
  const secret = newKeySecret(id);
  const at = iso();
  const row: EnrollmentKeyRow = {
    id, cluster_id: cluster.id, name: input.name ?? null,
    key: encodeEnrollmentKey({ urls: ctx.adminUrls(), secret, cluster_name: cluster.name }),
    secret,
    uses_remaining: input.uses_remaining === undefined ? 1 : input.uses_remaining,
    expired_at: input.expired_at == null ? null : futureDate(input.expired_at, 'body.expired_at', true),
    last_used_at: null, inserted_at: at, updated_at: at,
  };
  await ctx.db.insertInto('enrollment_keys').values(row).execute();
  return { ...row, cluster_name: cluster.name };
}

export function enrollmentKeyRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db, cfg } = ctx;
  const body = {
    type: 'object', additionalProperties: false,
    properties: {
      name: { type: ['string', 'null'], maxLength: 255, description: 'Optional human-readable label (display only)' },
      uses_remaining: { type: ['integer', 'null'], minimum: 1, description: 'Number of uses (>= 1); null for unlimited; omit for the default of 1' },
      expired_at: { type: ['string', 'null'], maxLength: 40, description: 'Expiry datetime (ISO 8601 date-time, checked by the handler); omit or null for no expiry' },
    },
  };
  const defaultCluster = async (): Promise<ClusterRow> => {
    const name = cfg.admin.default_cluster_name;
    if (!name) throw new NotFound('no default cluster is configured (set DEFAULT_CLUSTER_NAME)');
    const c = await clusterByName(db, name);
    if (!c) throw notFound('cluster', name);
    return c;
  };

  // Static paths: registered before the :cluster_name pattern.
  http.add({
    method: 'post', path: '/api/v1/clusters/default/enrollment_keys/public', auth: 'public', tags: TAGS, operationId: 'createDefaultClusterPublicEnrollmentKey',
    summary: 'Get a single-use enrollment key for the default cluster without authentication (only when PUBLIC_ENROLLMENT_KEY_ENABLED=true and DEFAULT_CLUSTER_NAME are set; 403 otherwise)',
    responses: { 201: { description: 'created', schema: single(enrollmentKeySchema) }, 403: { description: 'the public route is disabled' }, 404: { description: 'the default cluster does not exist' } },
    async handler(req: Req, res: Res) {
      if (!cfg.admin.public_enrollment_key_enabled || !cfg.admin.default_cluster_name) {
        throw new Forbidden('public enrollment keys are disabled (needs PUBLIC_ENROLLMENT_KEY_ENABLED=true and DEFAULT_CLUSTER_NAME)');
      }
      ok(req, res, keyView(await createEnrollmentKey(ctx, await defaultCluster(), {})), 201);
    },
  });

  // The reference's own operation for the default cluster (the pattern route below answers the same for `default`).
  http.add({
    method: 'post', path: '/api/v1/clusters/default/enrollment_keys', auth: 'api', tags: TAGS, operationId: 'createDefaultClusterEnrollmentKey',
    summary: 'Create an enrollment key for the default cluster (DEFAULT_CLUSTER_NAME; 404 when it is not set or does not exist). Omit uses_remaining and expired_at for a single-use key with no expiry',
    body,
    responses: { 201: { description: 'created', schema: single(enrollmentKeySchema) }, 404: { description: 'no default cluster' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      ok(req, res, keyView(await createEnrollmentKey(ctx, await defaultCluster(), req.body as KeyInput)), 201);
    },
  });

  http.add({
    method: 'post', path: '/api/v1/clusters/:cluster_name/enrollment_keys', auth: 'api', tags: TAGS,
    summary: 'Create an enrollment key for a cluster; `default` as the name means DEFAULT_CLUSTER_NAME. Omit uses_remaining and expired_at for a single-use key with no expiry',
    params: { type: 'object', required: ['cluster_name'], properties: { cluster_name: nameParam } },
    body,
    responses: { 201: { description: 'created', schema: single(enrollmentKeySchema) }, 404: { description: 'no such cluster' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const name = req.params.cluster_name;
      const cluster = name === 'default' ? await defaultCluster() : await clusterByName(db, name);
      if (!cluster) throw notFound('cluster', name);
      ok(req, res, keyView(await createEnrollmentKey(ctx, cluster, req.body as KeyInput)), 201);
    },
  });

  listRoute<KeyWithCluster>(http, {
    path: '/api/v1/enrollment_keys', tags: TAGS, summary: 'List enrollment keys (paginated, filtered, sorted)', what: 'enrollment keys', schema: enrollmentKeySchema, spec: enrollmentKeyListSpec,
    base: () => withCluster(db), select: (q) => q.selectAll('enrollment_keys').select('clusters.name as cluster_name'), view: keyView,
  });

  const params = { type: 'object', required: ['id'], properties: { id: uuidParam } };
  http.add({
    method: 'get', path: '/api/v1/enrollment_keys/:id', auth: 'api', tags: TAGS, summary: 'Get an enrollment key', params,
    responses: { 200: { description: 'the key', schema: single(enrollmentKeySchema) }, 404: { description: 'no such key' } },
    async handler(req: Req, res: Res) { ok(req, res, keyView(await getKey(db, req.params.id))); },
  });

  http.add({
    method: 'patch', path: '/api/v1/enrollment_keys/:id', auth: 'api', tags: TAGS,
    summary: 'Update name, uses_remaining or expired_at; only fields present change; null clears (unlimited uses, no expiry, no name)', params, body,
    responses: { 200: { description: 'updated', schema: single(enrollmentKeySchema) }, 404: { description: 'no such key' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const b = req.body as KeyInput;
      const set: Partial<EnrollmentKeyRow> = {};
      if (b.name !== undefined) set.name = b.name;
      if (b.uses_remaining !== undefined) set.uses_remaining = b.uses_remaining;
      // A past expiry is allowed here: it is how a key is revoked without deleting it.
      if (b.expired_at !== undefined) set.expired_at = b.expired_at === null ? null : futureDate(b.expired_at, 'body.expired_at', false);
      await getKey(db, req.params.id);
      if (Object.keys(set).length) await db.updateTable('enrollment_keys').set({ ...set, updated_at: iso() }).where('id', '=', req.params.id).execute();
      ok(req, res, keyView(await getKey(db, req.params.id)));
    },
  });

  deleteRoute(http, {
    path: '/api/v1/enrollment_keys/:id', tags: TAGS, summary: 'Delete an enrollment key (enrolled nodes stay)', params, what: 'enrollment key',
    remove: async (id) => Number((await db.deleteFrom('enrollment_keys').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0,
  });
}
