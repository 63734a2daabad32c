// Binding a node:net server: resolves with the port it got (port 0 = any free one), rejects
// with the bind error (EADDRINUSE, EACCES) instead of leaving it to an 'error' listener.
// node:net never sets SO_REUSEPORT, so a busy port is EADDRINUSE; the error names the setting
// (`what`), the port and, when it can be found, the process holding it.
import type net from 'node:net';
import { listenError } from '../process/port-holder';

export function listenOn(server: net.Server, host: string, port: number, what = 'listener'): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error & { code?: string }) => reject(listenError(what, host, port, err));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
