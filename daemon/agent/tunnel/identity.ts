// The agent's identity and its small state files under data_dir/agent/ (all 0600, written
// atomically: temp file + fsync + rename):
// - node id: persistent, from /etc/machine-id hashed with the data dir (so it survives a
//   reinstall into the same place, never reveals the machine id, and two agents on one host
//   with different data dirs differ), or random when there is no machine id, kept in `node_id`;
// - tunnel.json: what enrollment gave (node id, api_token, cluster, admin URLs);
// - credentials.json: the last SSH credential set from the admin, so logins work while it is down.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CredentialSet } from '../../tunnel/enrollment';
import { writeFileAtomic } from '../../base/atomic-file';

export interface NodeIdentity { node_id: string; id_type: 'persistent' | 'random' }

export interface EnrolledState {
  node_id: string;
  id_type: 'persistent' | 'random';
  api_token: string;
  cluster_name: string;
  /** Admin base URLs from the key, and the tunnel URL the admin gave. */
  urls: string[];
  tunnel_url: string;
  /** sha256 of the key's secret: a different ENROLLMENT_KEY means enroll again. */
  key_sha256: string;
  enrolled_at: string;
}

export function agentDir(dataDir: string): string { return path.join(dataDir, 'agent'); }


function readJson<T>(file: string): T | undefined {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try { return JSON.parse(text) as T; } catch (err) {
    throw Object.assign(new Error(`${file} is not valid JSON (${(err as Error).message}); remove it to start over`), { code: 'TUNNEL_STATE_INVALID' });
  }
}

/** A UUID (version 5 layout) from a hash, so it looks like every other id in the API. */
function uuidFromHash(h: Buffer): string {
  const b = Buffer.from(h.subarray(0, 16));
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function nodeIdentity(dataDir: string, machineIdFile = '/etc/machine-id'): NodeIdentity {
  const kept = path.join(agentDir(dataDir), 'node_id');
  try {
    const [id, type] = fs.readFileSync(kept, 'utf8').trim().split(/\s+/);
    if (/^[0-9a-f-]{36}$/.test(id)) return { node_id: id, id_type: type === 'persistent' ? 'persistent' : 'random' };
  } catch { /* first start */ }
  let ident: NodeIdentity;
  let machineId = '';
  try { machineId = fs.readFileSync(machineIdFile, 'utf8').trim(); } catch { /* none */ }
  if (/^[0-9a-f]{32}$/i.test(machineId)) {
    const h = createHash('sha256').update('outpost-node-id\0').update(machineId.toLowerCase()).update('\0').update(path.resolve(dataDir)).digest();
    ident = { node_id: uuidFromHash(h), id_type: 'persistent' };
  } else {
    ident = { node_id: randomUUID(), id_type: 'random' };
  }
  writeFileAtomic(kept, `${ident.node_id} ${ident.id_type}\n`);
  return ident;
}

export function readEnrolled(dataDir: string): EnrolledState | undefined {
  const s = readJson<EnrolledState>(path.join(agentDir(dataDir), 'tunnel.json'));
  if (!s) return undefined;
  if (typeof s.node_id !== 'string' || typeof s.api_token !== 'string' || typeof s.tunnel_url !== 'string') {
    throw Object.assign(new Error(`${path.join(agentDir(dataDir), 'tunnel.json')} lacks node_id/api_token/tunnel_url; remove it to enroll again`), { code: 'TUNNEL_STATE_INVALID' });
  }
  return s;
}

export function writeEnrolled(dataDir: string, s: EnrolledState): void {
  writeFileAtomic(path.join(agentDir(dataDir), 'tunnel.json'), `${JSON.stringify(s, null, 2)}\n`);
}

export function readCredentials(dataDir: string): CredentialSet | undefined {
  return readJson<CredentialSet>(path.join(agentDir(dataDir), 'credentials.json'));
}

export function writeCredentials(dataDir: string, set: CredentialSet): void {
  writeFileAtomic(path.join(agentDir(dataDir), 'credentials.json'), `${JSON.stringify(set)}\n`);
}

export function sha256(s: string): string { return createHash('sha256').update(s).digest('hex'); }
