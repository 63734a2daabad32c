// Binding a node:net server: resolves with the port it got (port 0 = any free one), rejects
// with the bind error (EADDRINUSE, EACCES) instead of leaving it to an 'error' listener.
import type net from 'node:net';

export function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
