// `outpost version`: this CLI's version and the servers' — the admin's (info.version of its
// public /openapi.json) and, when a data-plane URL is configured or --data is given, the
// daemon's (/api/v1/health). A server that cannot be reached is said, not fatal, unless it is
// the only one asked (exit 3).
import { optionHelp, parseArgv, type OptSpec } from './args';
import { Client } from './client';
import { requestTimeoutMs, write, type CommandGroup } from './command';
import { endpoint, loadConfigFile, readCa, selectProfile } from './config';
import { EXIT } from './errors';
import { ADMIN_GLOBAL_OPTS } from './fleet';
import { VERSION } from '../base/version';

const OPTS: readonly OptSpec[] = [
  { name: 'client', doc: 'only the client version (no request)' },
  { name: 'data', doc: 'also ask the data plane even when no data URL is configured (default URL)' },
];

const usage = () => ['usage: outpost version [--client] [--data]', '', 'options:', optionHelp(OPTS), '', 'global options:', optionHelp(ADMIN_GLOBAL_OPTS)].join('\n');

async function serverVersion(c: Client, data: boolean): Promise<{ version?: string; error?: string }> {
  try {
    const r = await c.request<{ version?: string; info?: { version?: string } }>('GET', data ? ['api', 'v1', 'health'] : ['openapi.json']);
    const v = data ? r.json.version : r.json.info?.version;
    return v ? { version: v } : { error: 'the server did not say' };
  } catch (err) {
    // /api/v1/health answers 503 with the same body while starting or draining.
    const body = (err as { body?: { version?: string } }).body;
    if (data && body?.version) return { version: body.version };
    return { error: (err as Error).message.split('\n')[0] };
  }
}

export const versionCommand: CommandGroup = {
  name: 'version', summary: 'client and server versions', help: usage, opts: [...ADMIN_GLOBAL_OPTS, ...OPTS],
  async run(ctx) {
    const p = parseArgv(ctx.argv, [...ADMIN_GLOBAL_OPTS, ...OPTS], usage());
    const opts = { ...ctx.globals, ...p.opts };
    if (opts.help) { await write(ctx.stdout, usage() + '\n'); return 0; }
    const out: Record<string, unknown> = { client: VERSION };
    const lines = [`client:     outpost ${VERSION}`];
    let asked = 0;
    let failed = 0;
    if (!opts.client) {
      const timeoutMs = requestTimeoutMs(opts, usage());
      const ask = async (label: string, key: string, plane: 'admin' | 'data') => {
        const ep = endpoint(plane, opts, ctx.env);
        const r = await serverVersion(new Client({ url: ep.url, token: ep.token, ca: ep.ca ? readCa(ep.ca) : undefined, timeoutMs }), plane === 'data');
        asked++;
        if (r.error) failed++;
        out[key] = { url: ep.url, version: r.version ?? null, error: r.error ?? null };
        lines.push(`${label.padEnd(11)} ${r.version ? `outpostd ${r.version}` : `unknown (${r.error})`} at ${ep.url}`);
      };
      await ask('admin:', 'admin', 'admin');
      const { profile } = selectProfile(loadConfigFile(ctx.env), opts, ctx.env);
      if (opts.data || ctx.env.OUTPOST_URL || profile.data_url) await ask('data plane:', 'data_plane', 'data');
    }
    await write(ctx.stdout, opts.json ? JSON.stringify(out, null, 2) + '\n' : lines.join('\n') + '\n');
    return asked > 0 && failed === asked ? EXIT.CONNECT : 0;
  },
};
