// All-in-one mode (`npm start`: admin and agent in one process): the local agent enrolls into
// its own admin with a key made for it, so a newcomer sees a one-node fleet with no setup. The
// key is kept in data_dir/admin/self-enrollment.key (0600) and reused on every start, so the
// agent (which remembers the key it enrolled with) does not enroll again after a restart.
import fs from 'node:fs';
import path from 'node:path';
import { createEnrollmentKey } from './enrollment-keys';
import type { AdminCtx } from '../api/context';
import { ensureCluster } from '../store/clusters';

/** The cluster the local agent joins when DEFAULT_CLUSTER_NAME is not set. */
export const LOCAL_CLUSTER = 'local';

export async function selfEnrollmentKey(ctx: AdminCtx): Promise<string> {
  const dir = path.join(ctx.cfg.data_dir, 'admin');
  const file = path.join(dir, 'self-enrollment.key');
  try {
    const kept = fs.readFileSync(file, 'utf8').trim();
    if (kept) return kept;
  } catch { /* first start */ }
  const cluster = await ensureCluster(ctx.db, ctx.cfg.admin.default_cluster_name ?? LOCAL_CLUSTER);
  const key = await createEnrollmentKey(ctx, cluster, { name: 'all-in-one: the local agent', uses_remaining: 1 });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, key.key + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  ctx.log.info({ cluster: cluster.name }, 'all-in-one: the local agent enrolls into this admin');
  return key.key;
}
