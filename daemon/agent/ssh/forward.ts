// Local port forwarding (`ssh -L`, direct-tcpip channels). Every target goes through the
// injected check — the agent's egress policy (daemon/net), after DNS resolution — before any connect;
// a denied or unreachable target gets a channel open failure, and both are audited.
import net from 'node:net';
import type { AcceptConnection, RejectConnection, TcpipRequestInfo } from 'ssh2';
import { source, touch, type ConnState, type SshContext } from './types';

const CONNECT_TIMEOUT_MS = 10_000;

export async function handleDirectTcpip(ctx: SshContext, conn: ConnState, accept: AcceptConnection, reject: RejectConnection, info: TcpipRequestInfo): Promise<void> {
  touch(conn);
  const target = `${info.destIP}:${info.destPort}`;
  if (!conn.runAs) {
    ctx.audit.write({ event: 'run_as_missing', ...source(conn), run_as: ctx.runAsName, target, reason: conn.runAsError });
    return reject();
  }
  let verdict: Awaited<ReturnType<SshContext['checkTarget']>>;
  try {
    verdict = await ctx.checkTarget(info.destIP, info.destPort);
  } catch (err) {
    verdict = { ok: false, reason: `policy error: ${(err as Error).message}` };
  }
  if (!verdict.ok) {
    ctx.counters.forwards_denied_total++;
    ctx.audit.write({ event: 'forward_denied', ...source(conn), target, reason: verdict.reason });
    ctx.log.info({ user: conn.user, target, reason: verdict.reason }, 'ssh forward denied');
    return reject();
  }
  const sock = net.connect({ host: verdict.address, port: info.destPort, family: verdict.family });
  sock.setNoDelay(true);
  sock.setTimeout(CONNECT_TIMEOUT_MS, () => sock.destroy(new Error('connect timeout')));
  let connected = false;
  sock.once('error', (err) => {
    if (connected) return;
    ctx.audit.write({ event: 'forward_denied', ...source(conn), target, reason: `connect failed: ${err.message}` });
    reject();
  });
  sock.once('connect', () => {
    connected = true;
    sock.setTimeout(0);
    const channel = accept();
    if (!channel) { sock.destroy(); return; }
    ctx.counters.forwards_total++;
    ctx.audit.write({ event: 'forward', ...source(conn), target, address: verdict.ok ? verdict.address : undefined });
    const onData = () => touch(conn);
    sock.on('data', onData);
    channel.on('data', onData);
    sock.pipe(channel).pipe(sock);
    const close = () => { sock.destroy(); channel.destroy(); };
    conn.closers.add(close);
    sock.on('error', () => channel.destroy());
    sock.on('close', () => { conn.closers.delete(close); channel.end(); });
    channel.on('close', () => { conn.closers.delete(close); sock.destroy(); });
  });
}
