// Anchor 1: the ceiling. A bare uWebSockets.js app answering every GET with a 2-byte body.
import { loadUws } from '../../native';
import { anchorArgs, exitOnSignals, ready } from './common';

const args = anchorArgs();
const { uws, report } = loadUws();
if (report.backend !== 'native') throw new Error(`uWS is not native here: ${report.detail}`);
const app = uws.App();
app.get('/*', (res) => { res.end('ok'); });
app.listen('127.0.0.1', args.port, (ls) => {
  if (!ls) { process.stderr.write(`cannot listen on ${args.port}\n`); process.exit(1); }
  ready(uws.us_socket_local_port(ls as never), { uws: report.version });
  exitOnSignals(() => uws.us_listen_socket_close(ls));
});
