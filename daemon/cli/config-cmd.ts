// `outpost config get-contexts | current-context | use-context NAME | set-context NAME …`: the
// contexts of the CLI's config file (config.ts), kubectl-style.
import { write, type CommandGroup } from './command';
import { endpoint, loadConfigFile, setContext, setCurrentContext, type Profile } from './config';
import { UsageError } from './errors';
import { makeGroup, table } from './group';

export const configCommand: CommandGroup = makeGroup({
  name: 'config', summary: 'contexts (url, token, ca) of ~/.config/outpost/config.toml',
  notes: [
    'A context names an admin (url, token, ca) and optionally a daemon\'s data plane (data_url, data_token).',
    'Precedence everywhere: flags (--url, --token, --ca; --context) > environment > current context > defaults.',
  ],
  subs: [
    {
      name: 'get-contexts', synopsis: 'get-contexts', doc: 'list contexts (* = current)', opts: [], args: [0, 0],
      async run(ctx, opts) {
        const cfg = loadConfigFile(ctx.env);
        const rows = [...cfg.contexts].map(([name, p]) => ({ current: name === cfg.current ? '*' : '', name, url: p.url, data_url: p.data_url, ca: p.ca, token: p.token ? 'set' : '' }));
        if (opts.json) { await write(ctx.stdout, JSON.stringify(rows, null, 2) + '\n'); return 0; }
        if (!rows.length) { await write(ctx.stderr, `no contexts in ${cfg.file}; add one with: outpost config set-context NAME --url URL --token TOKEN\n`); return 0; }
        await write(ctx.stdout, table(rows, [['CURRENT', (r) => r.current || ' '], ['NAME', (r) => r.name], ['URL', (r) => r.url], ['DATA URL', (r) => r.data_url], ['CA', (r) => r.ca], ['TOKEN', (r) => r.token]]));
        return 0;
      },
    },
    {
      name: 'current-context', synopsis: 'current-context', doc: 'print the context in use, and where its URL and token come from', opts: [], args: [0, 0],
      async run(ctx, opts) {
        const ep = endpoint('admin', opts, ctx.env);
        await write(ctx.stdout, `${ep.context ?? '(none)'}\n`);
        return 0;
      },
    },
    {
      name: 'use-context', synopsis: 'use-context NAME', doc: 'make NAME the current context', opts: [], args: [1, 1],
      async run(ctx, _opts, [name]) {
        const file = setCurrentContext(ctx.env, name);
        await write(ctx.stderr, `switched to context ${name} (${file})\n`);
        return 0;
      },
    },
    {
      name: 'set-context', synopsis: 'set-context NAME', doc: 'create or change a context (the file is rewritten, 0600)', args: [1, 1],
      opts: [
        { name: 'url', value: true, arg: 'URL', doc: 'the admin URL' },
        { name: 'token', value: true, arg: 'TOKEN', doc: 'the admin key' },
        { name: 'ca', value: true, arg: 'FILE', doc: 'PEM CA bundle for https://' },
        { name: 'data-url', value: true, arg: 'URL', doc: 'a daemon\'s data-plane URL (kv, queue, stream, ts)' },
        { name: 'data-token', value: true, arg: 'TOKEN', doc: 'its key (default: token)' },
      ],
      async run(ctx, opts, [name]) {
        const patch: Profile = {};
        for (const [flag, key] of [['url', 'url'], ['token', 'token'], ['ca', 'ca'], ['data-url', 'data_url'], ['data-token', 'data_token']] as const) {
          if (typeof opts[flag] === 'string') patch[key] = opts[flag] as string;
        }
        if (!Object.keys(patch).length) throw new UsageError('nothing to set: give --url, --token, --ca, --data-url or --data-token');
        for (const k of ['url', 'data_url'] as const) {
          if (patch[k] && !/^https?:\/\/./.test(patch[k]!)) throw new UsageError(`--${k.replace('_', '-')} must be an http:// or https:// URL`);
        }
        const file = setContext(ctx.env, name, patch);
        await write(ctx.stderr, `context ${name} saved in ${file}\n`);
        return 0;
      },
    },
  ],
});
