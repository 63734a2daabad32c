// The one argv scanner of both programs (`outpostd` in config.ts, `outpost` in cli/args.ts):
// node:util parseArgs tokenizes, this file applies the rules. parseArgs runs with tokens and
// strict: false because its strict mode rejects `--admin=false` and reports errors in its own
// multi-line wording; the strictness is applied here on its tokens instead: an unknown option,
// a value option without a value and a bad switch value are errors, each one line naming the
// option (the caller adds its hint and exit code).
//
// Switches (boolean options): `--x`, `--x=true|false`, `--no-x`. With switchValueAfter (outpostd,
// which takes no positionals) the word right after a lone switch is its value too: `--admin true`.
// Value options: `--x VALUE`, `--x=VALUE`, `-s VALUE`, `-sVALUE`. The word after a value option is
// its value unless it is `--` or an option of the same table (`--api-port --admin` is a missing
// value, not a port named "--admin"); `--x=-v` passes a value that looks like an option.
import { parseArgs } from 'node:util';

export interface ArgSpec {
  /** Long name without dashes; also the key in the result. */
  name: string;
  short?: string;
  /** true: takes a value; false/absent: a switch. */
  value?: boolean;
  /** Placeholder in help and errors, e.g. SECONDS. */
  arg?: string;
}

export type ArgValues = Record<string, string | boolean | undefined>;

export interface ScanOptions {
  /** Stop at the first positional: it and everything after it are returned unparsed. */
  stopAtPositional?: boolean;
  /** The word right after a lone switch is its value (`--admin true`); no positionals then. */
  switchValueAfter?: boolean;
  /** Builds the error thrown for a usage problem (message: one line naming the option). */
  fail(message: string): Error;
}

export interface Scanned {
  /** By spec name, without prototype; switches are booleans, value options strings. */
  values: ArgValues;
  positionals: string[];
}

const TRUE = /^(true|1|yes|on)$/i;
const FALSE = /^(false|0|no|off)$/i;

/** true / false for the spellings settings accept (true, 1, yes, on / false, 0, no, off), else undefined. */
export function parseSwitch(s: string): boolean | undefined {
  return TRUE.test(s) ? true : FALSE.test(s) ? false : undefined;
}

export function scanArgv(argv: readonly string[], specs: readonly ArgSpec[], o: ScanOptions): Scanned {
  const byName = new Map<string, ArgSpec>();
  const byShort = new Map<string, ArgSpec>();
  for (const s of specs) {
    if (!byName.has(s.name)) byName.set(s.name, s); // the first one wins (a table may override a global's doc)
    if (s.short && !byShort.has(s.short)) byShort.set(s.short, s);
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = Object.create(null);
  for (const s of byName.values()) {
    options[s.name] = { type: s.value ? 'string' : 'boolean' };
    if (s.short && byShort.get(s.short) === s) options[s.name].short = s.short;
  }
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });

  /** The spec a written option names (`--name`, `--no-name` for a switch, `-s`), and whether it is negated. */
  const lookup = (raw: string): { spec: ArgSpec; negated: boolean } | undefined => {
    if (raw.startsWith('--')) {
      const name = raw.slice(2);
      const spec = byName.get(name);
      if (spec) return { spec, negated: false };
      const pos = name.startsWith('no-') ? byName.get(name.slice(3)) : undefined;
      return pos && !pos.value ? { spec: pos, negated: true } : undefined;
    }
    const spec = raw.length === 2 ? byShort.get(raw[1]) : undefined;
    return spec ? { spec, negated: false } : undefined;
  };
  /** A word that is an option of this table (or `--`), so not the value of the option before it. */
  const optionWord = (w: string): boolean => w === '--' || (w.startsWith('-') && lookup(w.startsWith('--') ? w.replace(/=.*$/s, '') : w.slice(0, 2)) !== undefined);

  const values: ArgValues = Object.create(null);
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'option-terminator') { positionals.push(...argv.slice(t.index + 1)); break; }
    if (t.kind === 'positional') {
      if (o.stopAtPositional) { positionals.push(...argv.slice(t.index)); break; }
      if (o.switchValueAfter) throw o.fail(`unexpected argument ${JSON.stringify(t.value)}`);
      positionals.push(t.value);
      continue;
    }
    const found = lookup(t.rawName);
    // parseArgs names an unknown `--x=v` by `--x`: the value (maybe a secret) is not echoed.
    if (!found) throw o.fail(`unknown option ${t.rawName}`);
    const { spec, negated } = found;
    if (spec.value) {
      if (t.value === undefined || (!t.inlineValue && optionWord(t.value))) {
        throw o.fail(`${t.rawName} needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
      }
      values[spec.name] = t.value;
      continue;
    }
    if (negated) {
      if (t.value !== undefined) throw o.fail(`${t.rawName} takes no value`);
      values[spec.name] = false;
      continue;
    }
    let word = t.value;
    const next = tokens[i + 1];
    if (word === undefined && o.switchValueAfter && next?.kind === 'positional' && next.index === t.index + 1) {
      word = next.value;
      i++;
    }
    if (word === undefined) { values[spec.name] = true; continue; }
    const b = parseSwitch(word);
    if (b === undefined) throw o.fail(`${t.rawName} is a switch: write ${t.rawName}, ${t.rawName}=false or --no-${spec.name} (got ${JSON.stringify(word)})`);
    values[spec.name] = b;
  }
  return { values, positionals };
}
