// The option parser of every subcommand, on node:util parseArgs (through ../argv.ts, shared
// with outpostd): long options (`--name value`, `--name=value`), short aliases (`-n value`),
// switches (`--json`, `--json=false`, `--no-json`), `--` to end options, and `-` as an ordinary
// positional (stdin). The same OptSpec tables drive help (optionHelp) and shell completion.
import { scanArgv, type ArgSpec } from '../config/argv';
import { UsageError } from './errors';

export interface OptSpec extends ArgSpec {
  doc: string;
}

export type Opts = Record<string, string | boolean | undefined>;

export interface Parsed { opts: Opts; positionals: string[] }

/**
 * Parses argv against specs. With stopAtPositional, parsing stops at the first positional
 * (a subcommand name) and everything from it on is returned unparsed in positionals. A switch
 * never takes the next word as its value here (`outpost kv put k --json true` puts "true").
 */
export function parseArgv(argv: string[], specs: readonly OptSpec[], usage: string, stopAtPositional = false): Parsed {
  const { values, positionals } = scanArgv(argv, specs, { stopAtPositional, fail: (m) => new UsageError(m, usage) });
  return { opts: values, positionals };
}

/** Parses an integer option value within bounds, or throws a usage error naming the option. */
export function intOpt(opts: Opts, name: string, min: number, max: number, usage: string): number | undefined {
  const raw = opts[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new UsageError(`--${name} must be an integer between ${min} and ${max} (got ${JSON.stringify(raw)})`, usage);
  }
  return Number(raw);
}

/** Help lines for a list of options. */
export function optionHelp(specs: readonly OptSpec[]): string {
  const rows = specs.map((s) => [`${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.value ? ` ${s.arg ?? 'VALUE'}` : ''}`, s.doc]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([l, d]) => `  ${l.padEnd(w)}  ${d}`).join('\n');
}
