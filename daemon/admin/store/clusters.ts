// Cluster store operations shared by the API, the enrollment path and (later) the CLI:
// creation with IPv4 range validation/allocation, lookups, node counts.
import { sql } from 'kysely';
import { Conflict, ValidationFailed } from '../../base/errors';
import { allocate, format, overlaps, parseCidr, type Cidr } from './ipv4';
import { dialectOf, inTx, type DbOrTrx } from './db';
import type { ClusterRow } from './schema';
import { iso, isUniqueViolation, newId } from './util';

const CLUSTER_CREATE_LOCK = 0x636c7573; // "clus"

/** URL keyword of the convenience routes; never a cluster name. */
export const RESERVED_CLUSTER_NAMES = new Set(['default']);

const field = (name: string, message: string) => ({ fields: [{ field: `body.${name}`, message }] });

export async function clusterByName(db: DbOrTrx, name: string): Promise<ClusterRow | undefined> {
  return db.selectFrom('clusters').selectAll().where('name', '=', name).executeTakeFirst();
}

export interface ClusterInput { name: string; ipv4_range?: string | null; node_limit?: number | null }

/**
 * Creates a cluster. Errors are domain errors (base/errors.ts): 422 for a reserved name or a malformed range, 409
 * when the name is taken or the range overlaps another cluster's (or the pool is exhausted).
 */
export async function createCluster(db: DbOrTrx, input: ClusterInput, now = new Date()): Promise<ClusterRow> {
  if (RESERVED_CLUSTER_NAMES.has(input.name)) throw new ValidationFailed(`the name '${input.name}' is reserved`, field('name', 'is reserved'));
  let given: Cidr | undefined;
  if (input.ipv4_range != null) {
    const c = parseCidr(input.ipv4_range);
    if (typeof c === 'string') throw new ValidationFailed(`ipv4_range ${c}`, field('ipv4_range', c));
    given = c;
  }
  // Two concurrent creations may pick the same free /24: the unique index stops the second,
  // which then retries with a fresh view.
  for (let attempt = 0; ; attempt++) {
    try {
      return await inTx(db, async (trx) => {
        // PostgreSQL: one cluster creation at a time (ranges are checked against all others).
        if (dialectOf(trx) === 'postgres') await sql`select pg_advisory_xact_lock(${CLUSTER_CREATE_LOCK})`.execute(trx);
        if (await clusterByName(trx, input.name)) throw new Conflict(`cluster '${input.name}' already exists`, field('name', 'has already been taken'));
        const taken = (await trx.selectFrom('clusters').select(['name', 'ipv4_range']).execute()).map((r) => ({ name: r.name, c: parseCidr(r.ipv4_range) as Cidr }));
        let range: string;
        if (given) {
          const clash = taken.find((t) => typeof t.c !== 'string' && overlaps(t.c, given!));
          if (clash) throw new Conflict(`ipv4_range ${format(given)} overlaps cluster '${clash.name}' (${format(clash.c)})`, field('ipv4_range', `overlaps cluster ${clash.name}`));
          range = format(given);
        } else {
          const free = allocate(taken.map((t) => t.c).filter((c): c is Cidr => typeof c !== 'string'));
          if (!free) throw new Conflict('no free /24 left in 100.64.0.0/10; pass ipv4_range', field('ipv4_range', 'pool exhausted'));
          range = free;
        }
        const at = iso(now);
        const row: ClusterRow = { id: newId(), name: input.name, ipv4_range: range, node_limit: input.node_limit ?? null, inserted_at: at, updated_at: at };
        await trx.insertInto('clusters').values(row).execute();
        return row;
      });
    } catch (err) {
      if (isUniqueViolation(err) && attempt < 5) continue;
      if (isUniqueViolation(err)) throw new Conflict(`cluster '${input.name}' or its range already exists`);
      throw err;
    }
  }
}

/** Creates the cluster if it does not exist (DEFAULT_CLUSTER_NAME at start). */
export async function ensureCluster(db: DbOrTrx, name: string): Promise<ClusterRow> {
  const found = await clusterByName(db, name);
  if (found) return found;
  try {
    return await createCluster(db, { name });
  } catch (err) {
    const again = await clusterByName(db, name);
    if (again) return again;
    throw err;
  }
}

export async function nodeCount(db: DbOrTrx, clusterId: string): Promise<number> {
  const r = await db.selectFrom('nodes').select((eb) => eb.fn.countAll<number>().as('n')).where('cluster_id', '=', clusterId).executeTakeFirstOrThrow();
  return Number(r.n);
}
