// A small option parser shared by every subcommand: long options (`--name value`,
// `--name=value`), short aliases (`-n value`), boolean flags, `--` to end options, and `-`
// as an ordinary positional (stdin).
import { UsageError } from './errors';

export interface OptSpec {
  /** Long name without dashes; also the key in the result. */
  name: string;
  short?: string;
  /** true: takes a value; false/absent: boolean flag. */
  value?: boolean;
  /** Placeholder in help, e.g. SECONDS. */
  arg?: string;
  doc: string;
}

export type Opts = Record<string, string | boolean | undefined>;

export interface Parsed { opts: Opts; positionals: string[] }

/**
 * Parses argv against specs. With stopAtPositional, parsing stops at the first positional
 * (a subcommand name) and everything from it on is returned unparsed in positionals.
 */
export function parseArgv(argv: string[], specs: readonly OptSpec[], usage: string, stopAtPositional = false): Parsed {
  const opts: Opts = Object.create(null);
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (a === '-' || !a.startsWith('-')) {
      if (stopAtPositional) { positionals.push(...argv.slice(i)); break; }
      positionals.push(a);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    let spec: OptSpec | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) inline = a.slice(eq + 1);
      spec = specs.find((s) => s.name === name);
    } else {
      name = a.slice(1);
      spec = specs.find((s) => s.short === name);
    }
    if (!spec) throw new UsageError(`unknown option ${a}`, usage);
    if (spec.value) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value${spec.arg ? ` (${spec.arg})` : ''}`, usage);
      opts[spec.name] = v;
    } else {
      if (inline !== undefined) throw new UsageError(`--${spec.name} takes no value`, usage);
      opts[spec.name] = true;
    }
  }
  return { opts, positionals };
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
