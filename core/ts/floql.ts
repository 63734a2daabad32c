// FloQL: a small query language for Outpost time series (pure; no I/O).
//
//   cpu.usage{host=web-01,region=~"eu-.*"}[1h] | avg(5m) by (region)
//
// See docs/floql.md for the grammar and semantics.

export type MatchOp = '=' | '!=' | '=~' | '!~';
export type StageFn = 'avg' | 'sum' | 'min' | 'max' | 'count' | 'last' | 'rate';

export interface Matcher {
  key: string;
  op: MatchOp;
  value: string;
  /** Present for '=~' and '!~': the value anchored as ^(?:value)$. */
  regex?: RegExp;
}

export interface Stage {
  fn: StageFn;
  windowMs: number;
}

export interface FloQuery {
  measurement: string;
  field?: string;
  matchers: Matcher[];
  rangeMs?: number;
  stages: Stage[];
  by: string[];
}

export interface SeriesPoint {
  timestamp: number;
  value: number;
}

export interface Series {
  tags: Record<string, string>;
  points: SeriesPoint[];
}

export class FloQLError extends Error {
  readonly code = 'TS_BAD_QUERY' as const;
  /** 0-based offset into the query string (the message shows the 1-based column). */
  readonly position: number;
  constructor(position: number, what: string) {
    super(`column ${position + 1}: ${what}`);
    this.name = 'FloQLError';
    this.position = position;
  }
}

export const STAGE_FNS: readonly StageFn[] = ['avg', 'sum', 'min', 'max', 'count', 'last', 'rate'];
const UNIT_MS: Record<string, number> = { w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };
const UNIT_ORDER = ['w', 'd', 'h', 'm', 's', 'ms'];

const isIdentStart = (c: string | undefined) => c !== undefined && /[A-Za-z_]/.test(c);
const isIdentChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
const isTagKeyChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\-]/.test(c);
const isBareChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_\-.:/]/.test(c);
const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Compile a matcher regex, anchored on both ends like Prometheus. */
export function anchoredRegex(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

class Parser {
  pos = 0;
  constructor(readonly src: string) {}

  fail(expected: string, at = this.pos): never {
    const c = this.src[at];
    const found = c === undefined ? 'end of query' : JSON.stringify(c);
    throw new FloQLError(at, `expected ${expected}, found ${found}`);
  }

  ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos])) this.pos++;
  }

  peek(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  expect(s: string, what = JSON.stringify(s)): void {
    this.ws();
    if (!this.peek(s)) this.fail(what);
    this.pos += s.length;
  }

  ident(what: string, tagKey = false): string {
    this.ws();
    const start = this.pos;
    if (!isIdentStart(this.src[this.pos])) this.fail(what);
    this.pos++;
    while (tagKey ? isTagKeyChar(this.src[this.pos]) : isIdentChar(this.src[this.pos])) this.pos++;
    return this.src.slice(start, this.pos);
  }

  /** duration := (number unit)+ ; units in strictly decreasing size, each at most once. */
  duration(): number {
    this.ws();
    const start = this.pos;
    if (!isDigit(this.src[this.pos])) this.fail('a duration such as 5m or 1h30m');
    let total = 0;
    let lastUnit = -1;
    while (isDigit(this.src[this.pos])) {
      const numStart = this.pos;
      while (isDigit(this.src[this.pos])) this.pos++;
      const n = Number(this.src.slice(numStart, this.pos));
      const unitPos = this.pos;
      let unit: string | undefined;
      if (this.peek('ms')) unit = 'ms';
      else if ('wdhms'.includes(this.src[this.pos] ?? '\0') && this.src[this.pos] !== undefined) unit = this.src[this.pos];
      if (unit === undefined) this.fail('a duration unit (ms, s, m, h, d or w)');
      const idx = UNIT_ORDER.indexOf(unit);
      if (idx <= lastUnit) throw new FloQLError(unitPos, `duration units must go from largest to smallest, each at most once (unit "${unit}")`);
      lastUnit = idx;
      this.pos += unit.length;
      total += n * UNIT_MS[unit];
    }
    if (isIdentChar(this.src[this.pos])) this.fail('a duration unit (ms, s, m, h, d or w)');
    if (total <= 0) throw new FloQLError(start, 'duration must be greater than zero');
    if (!Number.isSafeInteger(total)) throw new FloQLError(start, 'duration is too large');
    return total;
  }

  value(): string {
    this.ws();
    const start = this.pos;
    if (this.src[this.pos] === '"') {
      this.pos++;
      let out = '';
      for (;;) {
        const c = this.src[this.pos];
        if (c === undefined) throw new FloQLError(start, 'unterminated string (expected closing \'"\')');
        if (c === '\\' && (this.src[this.pos + 1] === '"' || this.src[this.pos + 1] === '\\')) {
          out += this.src[this.pos + 1];
          this.pos += 2;
          continue;
        }
        this.pos++;
        if (c === '"') return out;
        out += c;
      }
    }
    if (!isBareChar(this.src[this.pos])) this.fail('a tag value (bare word or "quoted string")');
    while (isBareChar(this.src[this.pos])) this.pos++;
    return this.src.slice(start, this.pos);
  }

  matcher(): Matcher {
    const key = this.ident('a tag key', true);
    this.ws();
    let op: MatchOp;
    if (this.peek('=~')) op = '=~';
    else if (this.peek('!~')) op = '!~';
    else if (this.peek('!=')) op = '!=';
    else if (this.peek('=')) op = '=';
    else this.fail("a match operator ('=', '!=', '=~' or '!~')");
    this.pos += op.length;
    this.ws();
    const valuePos = this.pos;
    const value = this.value();
    const m: Matcher = { key, op, value };
    if (op === '=~' || op === '!~') {
      try {
        m.regex = anchoredRegex(value);
      } catch (e) {
        throw new FloQLError(valuePos, `invalid regular expression: ${(e as Error).message}`);
      }
    }
    return m;
  }

  query(): FloQuery {
    const measurement = this.ident('a measurement name');
    const q: FloQuery = { measurement, matchers: [], stages: [], by: [] };
    this.ws();
    if (this.peek('.')) {
      this.pos++;
      q.field = this.ident('a field name');
      this.ws();
    }
    if (this.peek('{')) {
      this.pos++;
      for (;;) {
        q.matchers.push(this.matcher());
        this.ws();
        if (this.peek(',')) {
          this.pos++;
          continue;
        }
        if (this.peek('}')) {
          this.pos++;
          break;
        }
        this.fail("',' or '}'");
      }
      this.ws();
    }
    if (this.peek('[')) {
      this.pos++;
      q.rangeMs = this.duration();
      this.expect(']', "']'");
      this.ws();
    }
    while (this.peek('|')) {
      this.pos++;
      this.ws();
      const fnPos = this.pos;
      if (!isIdentStart(this.src[this.pos])) this.fail(`a function (${STAGE_FNS.join(', ')})`);
      const fn = this.ident('a function');
      if (!(STAGE_FNS as readonly string[]).includes(fn)) throw new FloQLError(fnPos, `unknown function "${fn}", expected one of ${STAGE_FNS.join(', ')}`);
      this.expect('(', "'('");
      const windowMs = this.duration();
      this.expect(')', "')'");
      q.stages.push({ fn: fn as StageFn, windowMs });
      this.ws();
    }
    if (this.peek('by') && !isTagKeyChar(this.src[this.pos + 2])) {
      this.pos += 2;
      this.expect('(', "'(' after 'by'");
      for (;;) {
        q.by.push(this.ident('a tag key', true));
        this.ws();
        if (this.peek(',')) {
          this.pos++;
          continue;
        }
        if (this.peek(')')) {
          this.pos++;
          break;
        }
        this.fail("',' or ')'");
      }
      this.ws();
    }
    if (this.pos < this.src.length) {
      const allowed: string[] = [];
      if (q.field === undefined && !q.matchers.length && q.rangeMs === undefined && !q.stages.length && !q.by.length) allowed.push("'.'");
      if (!q.matchers.length && q.rangeMs === undefined && !q.stages.length && !q.by.length) allowed.push("'{'");
      if (q.rangeMs === undefined && !q.stages.length && !q.by.length) allowed.push("'['");
      if (!q.by.length) allowed.push("'|'", "'by'");
      allowed.push('end of query');
      this.fail(allowed.length > 1 ? allowed.slice(0, -1).join(', ') + ' or ' + allowed[allowed.length - 1] : allowed[0]);
    }
    return q;
  }
}

/** Parse a FloQL query. Throws FloQLError (code TS_BAD_QUERY) with the offending position. */
export function parseFloQL(q: string): FloQuery {
  return new Parser(q).query();
}

/** Whether a series' tags satisfy one matcher (a missing tag counts as ""). */
export function matches(m: Matcher, tags: Record<string, string>): boolean {
  const v = Object.prototype.hasOwnProperty.call(tags, m.key) ? tags[m.key] : '';
  switch (m.op) {
    case '=':
      return v === m.value;
    case '!=':
      return v !== m.value;
    case '=~':
      return (m.regex ?? anchoredRegex(m.value)).test(v);
    case '!~':
      return !(m.regex ?? anchoredRegex(m.value)).test(v);
  }
}

/** Group key and group tags of a series under `by` (as evaluate() forms them). */
export function groupOf(by: string[], tags: Record<string, string>, fallbackKey: string): { key: string; tags: Record<string, string> } {
  if (!by.length) return { key: fallbackKey, tags: { ...tags } };
  const present = by.map((k) => (Object.prototype.hasOwnProperty.call(tags, k) ? tags[k] : null));
  const gt: Record<string, string> = {};
  by.forEach((k, i) => {
    if (present[i] !== null) Object.defineProperty(gt, k, { value: present[i], enumerable: true, writable: true, configurable: true });
  });
  return { key: JSON.stringify(present), tags: gt };
}

function sortPoints(points: SeriesPoint[]): SeriesPoint[] {
  return points.slice().sort((a, b) => a.timestamp - b.timestamp); // stable
}

/** One pipeline stage over time-ordered points: one output point per window that has a value. */
export function applyStage(stage: Stage, points: SeriesPoint[]): SeriesPoint[] {
  const w = stage.windowMs;
  const windows = new Map<number, SeriesPoint[]>();
  for (const p of points) {
    const start = Math.floor(p.timestamp / w) * w;
    let bucket = windows.get(start);
    if (!bucket) windows.set(start, (bucket = []));
    bucket.push(p);
  }
  const out: SeriesPoint[] = [];
  for (const [start, pts] of windows) {
    let value: number;
    switch (stage.fn) {
      case 'avg':
        value = pts.reduce((s, p) => s + p.value, 0) / pts.length;
        break;
      case 'sum':
        value = pts.reduce((s, p) => s + p.value, 0);
        break;
      case 'min':
        value = pts.reduce((m, p) => Math.min(m, p.value), Infinity);
        break;
      case 'max':
        value = pts.reduce((m, p) => Math.max(m, p.value), -Infinity);
        break;
      case 'count':
        value = pts.length;
        break;
      case 'last':
        value = pts[pts.length - 1].value;
        break;
      case 'rate': {
        const first = pts[0];
        const last = pts[pts.length - 1];
        if (pts.length < 2 || last.timestamp === first.timestamp) continue;
        value = (last.value - first.value) / ((last.timestamp - first.timestamp) / 1000);
        break;
      }
    }
    out.push({ timestamp: start, value });
  }
  return out.sort((a, b) => a.timestamp - b.timestamp);
}

/**
 * Evaluate a parsed query over candidate series (already selected for q.measurement / q.field
 * by the caller). Pure: inputs are not modified. Series or groups left with no points are omitted.
 */
export function evaluate(q: FloQuery, series: Series[], nowMs: number): Series[] {
  const lo = q.rangeMs === undefined ? -Infinity : nowMs - q.rangeMs;
  const hi = q.rangeMs === undefined ? Infinity : nowMs;
  const selected = series
    .filter((s) => q.matchers.every((m) => matches(m, s.tags)))
    .map((s) => ({ tags: { ...s.tags }, points: s.points.filter((p) => p.timestamp > lo && p.timestamp <= hi).map((p) => ({ timestamp: p.timestamp, value: p.value })) }));

  let groups: Series[];
  if (q.by.length) {
    const byKey = new Map<string, Series>();
    for (const s of selected) {
      const { key, tags } = groupOf(q.by, s.tags, '');
      let g = byKey.get(key);
      if (!g) byKey.set(key, (g = { tags, points: [] }));
      for (const p of s.points) g.points.push(p); // not push(...): a million points would overflow the stack
    }
    groups = [...byKey.values()];
  } else {
    groups = selected;
  }

  const out: Series[] = [];
  for (const g of groups) {
    let points = sortPoints(g.points);
    for (const stage of q.stages) points = applyStage(stage, points);
    if (points.length) out.push({ tags: g.tags, points });
  }
  return out;
}
