// Prometheus text exposition (format 0.0.4), shared by both roles' /metrics. Every family gets
// HELP and TYPE lines; label values and HELP text are escaped as the format requires, so a
// reason string from a service cannot break a scrape; a family name is written once (a second
// family of the same name is dropped, never merged into a duplicate series).

export type Labels = Record<string, string>;
export type Sample = [Labels | undefined, number | null | undefined];
export type FamilyType = 'counter' | 'gauge';

// Each escaper tests first: almost every name and value needs nothing, and a test is cheaper than
// the replace chain (a scrape writes a few hundred of them).
const LABEL_SPECIAL = /[\\"\n]/;
const HELP_SPECIAL = /[\\\n]/;
const VALID_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Label value escaping: backslash, double quote and line feed. */
export const escapeLabel = (v: string): string => (LABEL_SPECIAL.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);
/** HELP text escaping: backslash and line feed. */
export const escapeHelp = (v: string): string => (HELP_SPECIAL.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : v);
/** A valid metric / label name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
export const promName = (v: string): string => (VALID_NAME.test(v) ? v : v.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([^a-zA-Z_:])/, '_$1'));

export const fmt = (v: number): string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

export function labelText(labels: Labels | undefined): string {
  if (!labels) return '';
  let s = '';
  for (const k in labels) s += `${s ? ',' : ''}${promName(k)}="${escapeLabel(labels[k])}"`;
  return s ? `{${s}}` : '';
}

/** One histogram series: cumulative counts per upper bound (the last bound is +Inf), sum and count. */
export interface HistogramSeries {
  labels: Labels;
  /** Upper bounds in ascending order, without +Inf. */
  bounds: readonly number[];
  /** Cumulative counts, one per bound, then the +Inf count (= count). */
  cumulative: ArrayLike<number>;
  sum: number;
}

/** Collects metric families; a family with no present sample is left out entirely. */
export class PromText {
  private readonly out: string[] = [];
  private readonly names = new Set<string>();

  family(name: string, type: FamilyType, help: string, samples: Sample[]): this {
    const n = promName(name);
    const rows = samples.filter((s): s is [Labels | undefined, number] => typeof s[1] === 'number');
    if (!rows.length || this.names.has(n)) return this;
    this.names.add(n);
    this.out.push(`# HELP ${n} ${escapeHelp(help)}`, `# TYPE ${n} ${type}`);
    for (const [labels, v] of rows) this.out.push(`${n}${labelText(labels)} ${fmt(v)}`);
    return this;
  }

  counter(name: string, help: string, samples: Sample[]): this { return this.family(name, 'counter', help, samples); }
  gauge(name: string, help: string, samples: Sample[]): this { return this.family(name, 'gauge', help, samples); }

  /** A histogram family: `<name>_bucket{le=…}` (cumulative, ending with +Inf), `_sum`, `_count`. */
  histogram(name: string, help: string, series: HistogramSeries[]): this {
    const n = promName(name);
    if (!series.length || this.names.has(n)) return this;
    this.names.add(n);
    this.out.push(`# HELP ${n} ${escapeHelp(help)}`, `# TYPE ${n} histogram`);
    for (const s of series) {
      const base = labelText(s.labels);
      const prefix = base ? `${base.slice(0, -1)},` : '{';
      for (let i = 0; i < s.bounds.length; i++) this.out.push(`${n}_bucket${prefix}le="${fmt(s.bounds[i])}"} ${s.cumulative[i]}`);
      const count = s.cumulative[s.bounds.length];
      this.out.push(`${n}_bucket${prefix}le="+Inf"} ${count}`, `${n}_sum${base} ${fmt(s.sum)}`, `${n}_count${base} ${count}`);
    }
    return this;
  }

  text(): string {
    return this.out.length ? this.out.join('\n') + '\n' : '';
  }
}

/** The content type of the text exposition format. */
export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
