// A command group made of subcommands (`outpost <group> <sub> [args] [options]`): one parser,
// one help layout and one arity check for every group (kv, clusters, nodes, ...).
import { optionHelp, parseArgv, type OptSpec, type Opts } from './args';
import { GLOBAL_OPTS, write, type CommandGroup, type Context } from './command';
import { UsageError } from './errors';

export interface Sub {
  name: string;
  synopsis: string;
  doc: string;
  opts: readonly OptSpec[];
  /** [min, max] positionals. */
  args: [number, number];
  run(ctx: Context, opts: Opts, args: string[], usage: string): Promise<number>;
}

export interface GroupSpec {
  name: string;
  summary: string;
  subs: Sub[];
  /** Options every subcommand of the group takes. */
  groupOpts?: readonly OptSpec[];
  /** Lines after the option lists. */
  notes?: string[];
  globalOpts?: readonly OptSpec[];
}

export function makeGroup(g: GroupSpec): CommandGroup {
  const globals = g.globalOpts ?? GLOBAL_OPTS;
  const usage = (sub?: Sub): string => {
    const subs = sub ? [sub] : g.subs;
    const lines = [`usage: outpost ${g.name} <command> [options]`, ''];
    if (!sub) lines.push('commands:');
    const w = Math.max(...subs.map((s) => s.synopsis.length), 20);
    for (const s of subs) lines.push(`  ${s.synopsis.padEnd(w)}  ${s.doc}`);
    for (const s of subs) if (s.opts.length) lines.push('', `${s.name} options:`, optionHelp(s.opts));
    if (g.groupOpts?.length) lines.push('', `${g.name} options:`, optionHelp(g.groupOpts));
    lines.push('', 'global options:', optionHelp(globals));
    if (g.notes?.length) lines.push('', ...g.notes);
    lines.push('Exit status: 0 ok, 1 not found / conflict / server error, 2 usage error, 3 cannot connect.');
    return lines.join('\n');
  };
  return {
    name: g.name,
    summary: g.summary,
    subs: g.subs,
    opts: [...globals, ...(g.groupOpts ?? [])],
    help: () => usage(),
    async run(ctx: Context): Promise<number> {
      const groupOpts = [...globals, ...(g.groupOpts ?? [])];
      const head = parseArgv(ctx.argv, groupOpts, usage(), true);
      const [name, ...rest] = head.positionals;
      if (name === undefined || name === 'help') {
        if (head.opts.help || ctx.globals.help || name === 'help') { await write(ctx.stdout, usage() + '\n'); return 0; }
        throw new UsageError(`missing ${g.name} command (${g.subs.map((s) => s.name).join(', ')})`, usage());
      }
      const sub = g.subs.find((s) => s.name === name);
      if (!sub) throw new UsageError(`unknown ${g.name} command '${name}' (${g.subs.map((s) => s.name).join(', ')})`, usage());
      try {
        return await runSub(ctx, sub, rest, head.opts, groupOpts);
      } catch (err) {
        if (err instanceof UsageError) err.cmd ??= `${g.name} ${sub.name}`;
        throw err;
      }
    },
  };

  async function runSub(ctx: Context, sub: Sub, rest: string[], headOpts: Opts, groupOpts: OptSpec[]): Promise<number> {
    const u = usage(sub);
    const parsed = parseArgv(rest, [...groupOpts, ...sub.opts], u);
    const opts: Opts = { ...ctx.globals, ...headOpts, ...parsed.opts };
    if (opts.help) { await write(ctx.stdout, u + '\n'); return 0; }
    const [min, max] = sub.args;
    if (parsed.positionals.length < min) throw new UsageError(`missing argument: outpost ${g.name} ${sub.synopsis}`, u);
    if (parsed.positionals.length > max) throw new UsageError(`too many arguments: ${parsed.positionals.slice(max).join(' ')}`, u);
    return await sub.run(ctx, opts, parsed.positionals, u);
  }
}

/** A fixed-width text table; cells are stringified, null/undefined shown as "-". */
export function table(rows: Array<Record<string, unknown>>, cols: Array<[string, (r: Record<string, unknown>) => unknown]>): string {
  const cell = (v: unknown) => (v === null || v === undefined || v === '' ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const grid = [cols.map(([h]) => h), ...rows.map((r) => cols.map(([, f]) => cell(f(r))))];
  const widths = cols.map((_, i) => Math.max(...grid.map((row) => row[i].length)));
  return grid.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}
