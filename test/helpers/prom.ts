// A strict reader of the Prometheus text exposition format 0.0.4 for the /metrics tests: every
// line is HELP, TYPE or a sample; every family has HELP and TYPE before its samples; counters
// end in _total; no series appears twice; every histogram series has buckets that never
// decrease, a +Inf bucket equal to its _count, and a _sum.
import type { Test } from 'tap';

export interface PromSample { name: string; family: string; labels: Record<string, string>; value: number }
export interface Exposition { types: Map<string, string>; samples: PromSample[] }

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf)$/;

function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === 'histogram') return base;
    }
  }
  return name;
}

const key = (labels: Record<string, string>, skip?: string) => Object.keys(labels).filter((k) => k !== skip).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',');

/** Parses and checks the text; every violation is a failed assertion on `t`. */
export function parseExposition(t: Test, text: string): Exposition {
  const help = new Set<string>();
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  const seen = new Set<string>();
  let problems = 0;
  const fail = (msg: string) => { problems++; t.fail(msg); };
  if (!text.endsWith('\n')) fail('the text ends with a newline');
  for (const line of text.replace(/\n$/, '').split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/))) {
      if (help.has(m[1])) fail(`one HELP for ${m[1]}`);
      help.add(m[1]);
    } else if ((m = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/))) {
      if (types.has(m[1])) fail(`one TYPE for ${m[1]}`);
      if (!help.has(m[1])) fail(`HELP before TYPE for ${m[1]}`);
      types.set(m[1], m[2]);
      if (m[2] === 'counter' && !m[1].endsWith('_total')) fail(`counter ${m[1]} ends in _total`);
      if (m[2] !== 'counter' && m[1].endsWith('_total')) fail(`${m[1]} ends in _total but is a ${m[2]}`);
      if (/_percent(_|$)/.test(m[1])) fail(`${m[1]}: ratios (0..1) rather than percentages`);
    } else if ((m = line.match(SAMPLE))) {
      const labels: Record<string, string> = Object.create(null);
      const body = m[2] ? m[2].slice(1, -1) : '';
      const rebuilt: string[] = [];
      for (const l of body.matchAll(LABEL)) {
        if (l[1] in labels) fail(`duplicate label ${l[1]} in ${line}`);
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        rebuilt.push(l[0]);
      }
      if (rebuilt.join(',') !== body) fail(`malformed labels: ${line}`);
      const family = familyOf(m[1], types);
      if (!types.has(family)) fail(`${m[1]} has HELP and TYPE before its samples`);
      const id = `${m[1]}{${key(labels)}}`;
      if (seen.has(id)) fail(`duplicate series ${id}`);
      seen.add(id);
      samples.push({ name: m[1], family, labels, value: Number(m[3]) });
    } else {
      fail(`not an exposition line: ${JSON.stringify(line)}`);
    }
  }
  // Histograms: per series (labels without le) buckets ascending by le never decrease, +Inf = _count.
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>();
    const get = (labels: Record<string, string>) => {
      const k = key(labels, 'le');
      let s = series.get(k);
      if (!s) series.set(k, (s = { buckets: [] }));
      return s;
    };
    for (const s of samples.filter((x) => x.family === family)) {
      if (s.name === `${family}_bucket`) {
        if (!('le' in s.labels)) fail(`${family}_bucket without le`);
        get(s.labels).buckets.push([s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]);
      } else if (s.name === `${family}_count`) get(s.labels).count = s.value;
      else if (s.name === `${family}_sum`) get(s.labels).sum = s.value;
      else fail(`${s.name} in histogram ${family}`);
    }
    for (const [k, s] of series) {
      const b = [...s.buckets].sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < b.length; i++) if (b[i][1] < b[i - 1][1]) fail(`${family}{${k}}: bucket le=${b[i][0]} (${b[i][1]}) < le=${b[i - 1][0]} (${b[i - 1][1]})`);
      const inf = b.find((x) => x[0] === Infinity);
      if (!inf) fail(`${family}{${k}} has a +Inf bucket`);
      if (s.count === undefined || s.sum === undefined) fail(`${family}{${k}} has _count and _sum`);
      if (inf && inf[1] !== s.count) fail(`${family}{${k}}: +Inf bucket ${inf[1]} = _count ${s.count}`);
    }
  }
  t.equal(problems, 0, 'exposition format: HELP/TYPE, _total counters, no duplicate series, consistent histograms');
  return { types, samples };
}

/** The samples of one metric name whose labels include `match`. */
export function find(e: Exposition, name: string, match: Record<string, string> = {}): PromSample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
