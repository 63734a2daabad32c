// One source for the configuration: the Config type is derived from the SETTINGS table in
// daemon/config.ts, not written a second time. The type-level half of this test is checked by
// tsc (`npm test` and `npm run build` compile test/): each `Equal` below must be `true`, and each
// `@ts-expect-error` line must fail to compile, so a table row whose kind, optionality or enum
// values changed, or a field used that the table lacks, fails the build. The runtime half checks
// that every row resolves to a value of its kind.
import t from 'tap';
import { FIELDS, getPath, loadConfig, type Config } from '../daemon/config/config';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

const typeChecks: [
  Equal<Config['api_port'], number>,
  Equal<Config['bind'], string>,
  Equal<Config['api_key'], string | undefined>,
  Equal<Config['log_level'], 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>,
  Equal<Config['core']['write_mode'], 'main' | 'batch'>,
  Equal<Config['admin']['enabled'], boolean>,
  Equal<Config['ssh']['bind'], string | undefined>,
  Equal<Config['agent'], { enrollment_key?: string; name?: string }>,
  Equal<Config['sources'][string], 'default' | 'file' | 'env' | 'flag'>,
] = [true, true, true, true, true, true, true, true, true];

function compileTimeOnly(cfg: Config): void {
  // @ts-expect-error: no such setting in the table
  void cfg.core.nope;
  // @ts-expect-error: an unset-by-default setting is optional
  const bind: string = cfg.ssh.bind;
  // @ts-expect-error: an enum setting takes only its values
  cfg.core.write_mode = 'fast';
  void bind;
}

t.test('the table and the derived type agree at run time', async (t) => {
  t.equal(typeChecks.length, 9);
  t.equal(typeof compileTimeOnly, 'function');
  const cfg = loadConfig(['--data-dir', '/tmp/unused'], {});
  const seen = new Set<string>();
  for (const f of FIELDS) {
    t.notOk(seen.has(f.key), `${f.key} declared once`);
    seen.add(f.key);
    if (f.flag) t.notOk(FIELDS.some((g) => g !== f && g.flag === f.flag), `${f.flag} names one setting`);
    const v = getPath(cfg, f.key);
    if (f.def === undefined) { t.equal(v, undefined, `${f.key} unset by default`); continue; }
    t.equal(typeof v, { int: 'number', bool: 'boolean', string: 'string', enum: 'string' }[f.kind], `${f.key} is a ${f.kind}`);
    if (f.kind === 'enum') t.ok(f.values.includes(v as string), `${f.key} default is one of its values`);
  }
  t.equal(cfg.sources.api_port, 'default');
});
