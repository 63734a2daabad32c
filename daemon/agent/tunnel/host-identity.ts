// This host's one node id. The data plane creates an id of its own on first start (core's
// meta.mdb); enrollment gives the host its fleet id (data_dir/agent/tunnel.json). Once the
// agent is enrolled, the fleet id is the node id everywhere the daemon shows one: health,
// metrics (JSON bodies and the outpost_node_info series), local command records and SSH
// usernames, and the `node` field of every log line. Unenrolled, it is the data plane's id.
import type { Logger } from '../../base/log';
import { setLogNode } from '../../base/log';
import { readEnrolled } from './identity';

export class HostIdentity {
  private id: string;
  private cluster: string | null = null;
  private fleet = false;

  constructor(readonly dataPlaneId: string, private readonly log: Logger, dataDir: string) {
    this.id = dataPlaneId;
    let s;
    // A broken tunnel.json is reported (and fails the start) where the tunnel reads it.
    try { s = readEnrolled(dataDir); } catch { s = undefined; }
    if (s) { this.id = s.node_id; this.cluster = s.cluster_name || null; this.fleet = true; }
    setLogNode(log, this.id);
  }

  get nodeId(): string { return this.id; }
  get clusterName(): string | null { return this.cluster; }
  /** True once the id is the fleet's. */
  get isFleetId(): boolean { return this.fleet; }

  /** Enrollment (or the start of an enrolled agent) gave the fleet id and cluster. */
  enrolled(nodeId: string, clusterName: string | null): void {
    const before = this.id;
    this.id = nodeId;
    this.cluster = clusterName || null;
    this.fleet = true;
    setLogNode(this.log, nodeId);
    if (before !== nodeId) this.log.info({ previous_node_id: before, node_id: nodeId, cluster_name: this.cluster }, "enrolled: the fleet's node id is this host's node id from now on");
  }
}
