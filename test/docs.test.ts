// The docs stay true: every error code documented, every setting in the README, and the
// committed OpenAPI document equal to the one the daemon serves.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { CoreErrorCodes } from '../core';
import { FIELDS } from '../daemon/config';
import { HttpErrors } from '../daemon/errors';
import { ROOT, startInProc } from './helpers/daemon';

const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

t.test('every error code is documented', async (t) => {
  const doc = read('docs/errors.md');
  for (const [code, { status }] of Object.entries(HttpErrors)) {
    t.match(doc, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `${status} ${code}`);
  }
  for (const code of Object.keys(CoreErrorCodes)) t.match(doc, `\`${code}\``, code);
});

t.test('every setting is in the README configuration table', async (t) => {
  const readme = read('README.md');
  for (const f of FIELDS) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${f.key}\` |`));
    t.ok(row, `README has a row for ${f.key}`);
    if (f.flag) t.match(row ?? '', `\`${f.flag}\``, `${f.key} row names ${f.flag}`);
    if (f.env) t.match(row ?? '', `\`${f.env}\``, `${f.key} row names ${f.env}`);
  }
});

t.test('docs/openapi.json is what the daemon serves', async (t) => {
  const { url } = await startInProc(t);
  const served = await (await request(`${url}/openapi.json`)).body.json();
  const committed = JSON.parse(read('docs/openapi.json'));
  t.same(committed, served, 'run `npm run openapi` after changing a route');
});

t.test('every route schema compiles (validators are compiled lazily at run time)', async (t) => {
  const { daemon } = await startInProc(t);
  const { compile } = await import('../daemon/http/validate');
  for (const r of daemon.http.routes) {
    for (const where of ['params', 'query', 'body'] as const) {
      const schema = r[where];
      if (!schema) continue;
      const v = compile(where, schema);
      try { v(where === 'body' ? {} : {}); } catch (e) {
        t.equal((e as { code?: string }).code, 'bad_request', `${r.method} ${r.path} ${where}: only validation errors, no schema errors`);
        continue;
      }
      t.pass(`${r.method} ${r.path} ${where} compiles`);
    }
  }
});
