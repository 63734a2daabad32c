// Pure unit tests for the time-series parsers: InfluxDB line protocol and FloQL.
import t from 'tap';
const tap = t;
import { parseLineProtocol, LineProtocolError, parseFloQL, evaluate, FloQLError } from '../core/ts/index';
import type { FloQuery, Series } from '../core/ts/index';

const NOW = 1_700_000_000_000;
const ms = { precision: 'ms' as const, now: NOW };

function lpError(body: string, precision: 'ns' | 'us' | 'ms' | 's' = 'ms'): LineProtocolError {
  try {
    parseLineProtocol(body, { precision, now: NOW });
  } catch (e) {
    if (e instanceof LineProtocolError) return e;
    throw e;
  }
  throw new Error(`expected LineProtocolError for ${JSON.stringify(body)}`);
}

function qError(q: string): FloQLError {
  try {
    parseFloQL(q);
  } catch (e) {
    if (e instanceof FloQLError) return e;
    throw e;
  }
  throw new Error(`expected FloQLError for ${JSON.stringify(q)}`);
}

// ---------------------------------------------------------------- line protocol

t.test('line protocol: basic point, tag sorting, default timestamp', async (t) => {
  const pts = parseLineProtocol('cpu,region=eu,host=a usage=1.5,n=3i', ms);
  t.equal(pts.length, 1);
  t.strictSame(pts[0], {
    measurement: 'cpu',
    tags: { host: 'a', region: 'eu' },
    fields: { usage: 1.5, n: 3 },
    fieldTypes: { usage: 'float', n: 'integer' },
    timestamp: NOW,
  });
  t.strictSame(Object.keys(pts[0].tags), ['host', 'region'], 'tags sorted by key');
  t.strictSame(parseLineProtocol('m v=1', ms)[0].tags, {});
});

t.test('line protocol: every field type', async (t) => {
  const p = parseLineProtocol('m a=1,b=1.5,c=-1e3,d=12i,e=-12i,f=12u,g="hi there",h=t,i=FALSE,j=.5,k=1E2', ms)[0];
  t.strictSame(p.fields, { a: 1, b: 1.5, c: -1000, d: 12, e: -12, f: 12, g: 'hi there', h: true, i: false, j: 0.5, k: 100 });
  t.strictSame(p.fieldTypes, { a: 'float', b: 'float', c: 'float', d: 'integer', e: 'integer', f: 'uinteger', g: 'string', h: 'boolean', i: 'boolean', j: 'float', k: 'float' });
  for (const v of ['t', 'T', 'true', 'True', 'TRUE']) t.equal(parseLineProtocol(`m b=${v}`, ms)[0].fields.b, true, v);
  for (const v of ['f', 'F', 'false', 'False', 'FALSE']) t.equal(parseLineProtocol(`m b=${v}`, ms)[0].fields.b, false, v);
  for (const v of ['tRUE', 'yes', 'truE', 'FALSe']) t.match(lpError(`m b=${v}`).message, /not a number, boolean or quoted string/, v);
});

t.test('line protocol: escapes', async (t) => {
  const p = parseLineProtocol(String.raw`my\ meas\,ure=x,t\ k\=1\,=v\ 1\=\,2 f\ k\=\,=1 5`, ms)[0];
  t.equal(p.measurement, 'my meas,ure=x', 'measurement escapes comma and space; "=" is literal');
  t.strictSame(p.tags, { 't k=1,': 'v 1=,2' });
  t.strictSame(p.fields, { 'f k=,': 1 });
  t.equal(p.timestamp, 5);
  // Backslash before any other character is literal.
  t.equal(parseLineProtocol(String.raw`a\b,t=x\y v=1`, ms)[0].measurement, String.raw`a\b`);
  t.strictSame(parseLineProtocol(String.raw`a,t=x\y v=1`, ms)[0].tags, { t: String.raw`x\y` });
  // String fields: \" and \\ are escapes; commas, spaces, "=" are literal inside quotes.
  const s = parseLineProtocol(String.raw`m s="a \"q\" b\\c, d=e \n",x=2i`, ms)[0];
  t.equal(s.fields.s, String.raw`a "q" b\c, d=e \n`);
  t.equal(s.fields.x, 2);
  t.equal(parseLineProtocol('m s=""', ms)[0].fields.s, '');
});

t.test('line protocol: precision conversion to ms', async (t) => {
  const ts = (raw: string, precision: 'ns' | 'us' | 'ms' | 's') => parseLineProtocol(`m v=1 ${raw}`, { precision, now: NOW })[0].timestamp;
  t.equal(ts('1700000000123456789', 'ns'), 1700000000123.456789);
  t.equal(ts('1700000000123000000', 'ns'), 1700000000123);
  t.equal(ts('1500', 'ns'), 0.0015);
  t.equal(ts('1700000000123456', 'us'), 1700000000123.456);
  t.equal(ts('1700000000123', 'ms'), 1700000000123);
  t.equal(ts('1700000000', 's'), 1700000000000);
  t.equal(ts('-5', 's'), -5000);
  t.equal(ts('-1500000', 'ns'), -1.5);
  t.equal(ts('9223372036854775807', 'ns'), 9223372036854.775807);
  t.match(lpError('m v=1 9223372036854775808', 'ns').message, /out of int64 range/);
  t.match(lpError('m v=1 12.5').message, /timestamp "12.5" is not an integer/);
  t.match(lpError('m v=1 12 13').message, /unexpected text after timestamp/);
});

t.test('line protocol: blank lines, comments, CRLF, whitespace, multiple points', async (t) => {
  const body = '\n# a comment, with = stuff\n   \ncpu v=1 1000\r\n  # indented comment\n\ncpu v=2 2000\n\t\nmem free=3i\n';
  const pts = parseLineProtocol(body, ms);
  t.equal(pts.length, 3);
  t.strictSame(pts.map((p) => [p.measurement, p.fields, p.timestamp]), [
    ['cpu', { v: 1 }, 1000],
    ['cpu', { v: 2 }, 2000],
    ['mem', { free: 3 }, NOW],
  ]);
  t.strictSame(parseLineProtocol('', ms), []);
  t.strictSame(parseLineProtocol('# only\n\n', ms), []);
  t.equal(parseLineProtocol('m v=1    77   ', ms)[0].timestamp, 77, 'extra spaces around timestamp');
});

t.test('line protocol: string field may span lines; later errors count lines correctly', async (t) => {
  const pts = parseLineProtocol('m s="a\nb" 10\nm v=2', ms);
  t.equal(pts.length, 2);
  t.equal(pts[0].fields.s, 'a\nb');
  t.equal(lpError('m s="a\nb" 10\nm v=oops').line, 3);
});

t.test('line protocol: duplicate field keys keep the last value and type', async (t) => {
  const p = parseLineProtocol('m v=1,v="x",w=1i,v=3i', ms)[0];
  t.strictSame(p.fields, { v: 3, w: 1 });
  t.strictSame(p.fieldTypes, { v: 'integer', w: 'integer' });
});

t.test('line protocol: numeric ranges and non-finite floats', async (t) => {
  t.equal(parseLineProtocol('m v=9223372036854775807i', ms)[0].fields.v, 9223372036854775807);
  t.equal(parseLineProtocol('m v=-9223372036854775808i', ms)[0].fields.v, -9223372036854775808);
  t.match(lpError('m v=9223372036854775808i').message, /line 1: field "v" integer 9223372036854775808i is out of int64 range/);
  t.match(lpError('m v=-9223372036854775809i').message, /out of int64 range/);
  t.equal(parseLineProtocol('m v=18446744073709551615u', ms)[0].fieldTypes.v, 'uinteger');
  t.match(lpError('m v=18446744073709551616u').message, /out of uint64 range/);
  t.match(lpError('m v=-1u').message, /not a number/);
  for (const v of ['NaN', 'Inf', 'Infinity', '-Infinity', 'nan']) t.match(lpError(`m v=${v}`).message, /field value ".*" is not a number, boolean or quoted string/, v);
  t.match(lpError('m v=1e400').message, /float 1e400 is out of range/);
  t.match(lpError('m v=1.5i').message, /not a number/);
  t.match(lpError('m v=0x10').message, /not a number/);
});

t.test('line protocol: bytes that are not valid UTF-8 reject the batch, naming the token', async (t) => {
  const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const err = (b: Buffer) => {
    try { parseLineProtocol(b, ms); } catch (e) { if (e instanceof LineProtocolError) return e; throw e; }
    return undefined;
  };
  const cases: Array<[Buffer, number, RegExp]> = [
    [bytes('cp', [0xff], 'u v=1'), 1, /^line 1: the measurement is not valid UTF-8 \(byte 0xff at offset 2 of the body\)$/],
    [bytes('ok v=1\ncpu,h', [0xc3, 0x28], 'st=a v=1'), 2, /^line 2: a tag key is not valid UTF-8 \(byte 0xc3 at offset 12/],
    [bytes('cpu,host=', [0xed, 0xa0, 0x80], ' v=1'), 1, /the value of tag "host" is not valid UTF-8 \(byte 0xed/], // a UTF-16 surrogate
    [bytes('cpu u', [0xc0, 0xaf], 'e=1'), 1, /a field key is not valid UTF-8 \(byte 0xc0/], // overlong "/"
    [bytes('cpu s="', [0xf4, 0x90, 0x80, 0x80], '"'), 1, /the string value of field "s" is not valid UTF-8/], // past U+10FFFF
    [bytes('cpu v=1', [0x80]), 1, /the value of field "v" is not valid UTF-8/],
    [bytes('cpu v=1 12', [0xe2, 0x82]), 1, /the timestamp is not valid UTF-8/], // truncated sequence
    [bytes('# comment ', [0xfe], '\ncpu v=1'), 1, /^line 1: not valid UTF-8 \(byte 0xfe at offset 10/],
  ];
  for (const [body, line, re] of cases) {
    const e = err(body);
    t.ok(e, `${body.toString('hex')} is rejected`);
    t.equal(e?.line, line, `line of ${body.toString('hex')}`);
    t.match(e?.message, re);
  }
  // Valid multi-byte UTF-8 (and a real U+FFFD, which is valid) is accepted as is.
  const ok = parseLineProtocol(Buffer.from('température,ville=Zürich,naïve=\u{1F600} v=1,s="\uFFFD日本" 5'), ms);
  t.same(ok[0].tags, { 'naïve': '\u{1F600}', ville: 'Zürich' });
  t.equal(ok[0].measurement, 'température');
  t.equal(ok[0].fields.s, '\uFFFD日本');
});

t.test('line protocol: errors name the 1-based line and the problem', async (t) => {
  const cases: Array<[string, number, RegExp]> = [
    ['cpu v=1\n\n# c\ncpu v=abc', 4, /^line 4: field value "abc" is not a number, boolean or quoted string$/],
    ['cpu', 1, /missing fields/],
    ['cpu,host=a', 1, /missing fields/],
    ['cpu ', 1, /missing fields/],
    [',t=1 v=1', 1, /missing measurement/],
    // Leading blanks are skipped (as InfluxDB does), so "v=1" is read as the measurement.
    [' v=1', 1, /missing fields after measurement "v=1"/],
    ['cpu,host v=1', 1, /tag "host" has no value/],
    ['cpu,host= v=1', 1, /tag "host" has an empty value/],
    ['cpu,=a v=1', 1, /empty tag key/],
    ['cpu,a=1,a=2 v=1', 1, /duplicate tag key "a"/],
    ['cpu,a=b=c v=1', 1, /unescaped "="/],
    ['cpu v', 1, /field "v" has no value/],
    ['cpu v=', 1, /field "v" has an empty value/],
    ['cpu =1', 1, /empty field key/],
    ['cpu v=1,', 1, /empty field key/],
    ['cpu v="abc', 1, /unterminated string/],
    ['cpu v="a"b', 1, /after string value/],
    ['ok v=1\nok v=2\ncpu v=1 abc', 3, /timestamp "abc" is not an integer/],
  ];
  for (const [body, line, re] of cases) {
    const e = lpError(body);
    t.equal(e.code, 'TS_BAD_LINE', body);
    t.equal(e.line, line, body);
    t.match(e.message, re, body);
    t.ok(e instanceof Error);
  }
});

t.test('line protocol: a bad line rejects the whole batch', async (t) => {
  const good = Array.from({ length: 50 }, (_, i) => `cpu,host=h${i} v=${i} ${i}`);
  t.equal(parseLineProtocol(good.join('\n'), ms).length, 50);
  const bad = [...good.slice(0, 30), 'cpu,host=x v=nope 1', ...good.slice(30)];
  let result: unknown = 'not thrown';
  try {
    result = parseLineProtocol(bad.join('\n'), ms);
  } catch (e) {
    result = e;
  }
  t.type(result, LineProtocolError, 'throws instead of returning the 50 good points');
  t.equal((result as LineProtocolError).line, 31);
});

// ---------------------------------------------------------------- FloQL parser

t.test('floql: parses the reference example', async (t) => {
  t.strictSame(parseFloQL('cpu{host=web-01}[1h] | avg(5m)'), {
    measurement: 'cpu',
    matchers: [{ key: 'host', op: '=', value: 'web-01' }],
    rangeMs: 3_600_000,
    stages: [{ fn: 'avg', windowMs: 300_000 }],
    by: [],
  });
});

t.test('floql: full syntax with whitespace, field, all ops, multiple stages, by', async (t) => {
  const q = parseFloQL(' cpu . usage { host = web-01 , region =~ "eu-.*" , dc != "a b" , path !~ /var/log:x } [ 1h30m ] | sum( 1m ) |rate(5m) by ( region , dc ) ');
  t.equal(q.measurement, 'cpu');
  t.equal(q.field, 'usage');
  t.strictSame(q.matchers.map(({ key, op, value }) => ({ key, op, value })), [
    { key: 'host', op: '=', value: 'web-01' },
    { key: 'region', op: '=~', value: 'eu-.*' },
    { key: 'dc', op: '!=', value: 'a b' },
    { key: 'path', op: '!~', value: '/var/log:x' },
  ]);
  t.equal(q.matchers[0].regex, undefined);
  t.type(q.matchers[1].regex, RegExp);
  t.equal(q.rangeMs, 90 * 60_000);
  t.strictSame(q.stages, [{ fn: 'sum', windowMs: 60_000 }, { fn: 'rate', windowMs: 300_000 }]);
  t.strictSame(q.by, ['region', 'dc']);
  // Minimal forms.
  t.strictSame(parseFloQL('mem'), { measurement: 'mem', matchers: [], stages: [], by: [] });
  t.strictSame(parseFloQL('mem by(host)').by, ['host']);
  t.equal(parseFloQL('mem.free').field, 'free');
});

t.test('floql: durations', async (t) => {
  const r = (d: string) => parseFloQL(`m[${d}]`).rangeMs;
  t.equal(r('250ms'), 250);
  t.equal(r('10s'), 10_000);
  t.equal(r('5m'), 300_000);
  t.equal(r('2h'), 7_200_000);
  t.equal(r('1d'), 86_400_000);
  t.equal(r('1w'), 604_800_000);
  t.equal(r('1w2d3h4m5s6ms'), 604_800_000 + 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_000 + 6);
  t.equal(r('1h30m'), 5_400_000);
  for (const fn of ['avg', 'sum', 'min', 'max', 'count', 'last', 'rate']) t.strictSame(parseFloQL(`m | ${fn}(1m)`).stages, [{ fn, windowMs: 60_000 }]);
});

t.test('floql: regex matchers are anchored and quoted strings unescape \\" and \\\\', async (t) => {
  const re = parseFloQL('m{h=~"web-.*"}').matchers[0].regex!;
  t.ok(re.test('web-01'));
  t.notOk(re.test('xweb-01'), 'anchored at start');
  const re2 = parseFloQL('m{h=~"a|b"}').matchers[0].regex!;
  t.ok(re2.test('a'));
  t.notOk(re2.test('ab'), 'alternation anchored as a whole');
  t.equal(parseFloQL(String.raw`m{h="say \"hi\" \\ \d"}`).matchers[0].value, String.raw`say "hi" \ \d`);
  t.ok(parseFloQL(String.raw`m{h=~"a\.b"}`).matchers[0].regex!.test('a.b'));
  t.notOk(parseFloQL(String.raw`m{h=~"a\.b"}`).matchers[0].regex!.test('axb'));
});

t.test('floql: errors carry TS_BAD_QUERY, position and what was expected', async (t) => {
  const cases: Array<[string, number, RegExp]> = [
    ['', 0, /expected a measurement name, found end of query/],
    ['1cpu', 0, /expected a measurement name/],
    ['cpu{', 4, /expected a tag key/],
    ['cpu{}', 4, /expected a tag key, found "}"/],
    ['cpu{host}', 8, /expected a match operator/],
    ['cpu{host==x}', 9, /expected a tag value/],
    ['cpu{host=x', 10, /expected ',' or '}', found end of query/],
    ['cpu{host=x,}', 11, /expected a tag key/],
    ['cpu{host="x}', 9, /unterminated string/],
    ['cpu{host=~"("}', 10, /invalid regular expression/],
    ['cpu[1h', 6, /expected '\]'/],
    ['cpu[]', 4, /expected a duration/],
    ['cpu[5]', 5, /expected a duration unit/],
    ['cpu[5y]', 5, /expected a duration unit/],
    ['cpu[0s]', 4, /greater than zero/],
    ['cpu[30m1h]', 8, /largest to smallest/],
    ['cpu[1h1h]', 7, /largest to smallest/],
    ['cpu | median(5m)', 6, /unknown function "median"/],
    ['cpu | avg 5m', 10, /expected '\('/],
    ['cpu | avg(5m', 12, /expected '\)'/],
    ['cpu |', 5, /expected a function/],
    ['cpu by host', 7, /expected '\(' after 'by'/],
    ['cpu by ()', 8, /expected a tag key/],
    ['cpu by (a,', 10, /expected a tag key/],
    ['cpu by (a', 9, /expected ',' or '\)'/],
    ['cpu x', 4, /expected '\.', '\{', '\[', '\|', 'by' or end of query, found "x"/],
    ['cpu[1h] {a=b}', 8, /expected '\|', 'by' or end of query, found "\{"/],
    ['cpu | avg(1m) by (a) | sum(1m)', 21, /expected end of query, found "\|"/],
    ['cpu.', 4, /expected a field name/],
  ];
  for (const [q, pos, re] of cases) {
    const e = qError(q);
    t.equal(e.code, 'TS_BAD_QUERY', q);
    t.equal(e.position, pos, `position for ${q}`);
    t.match(e.message, re, q);
    t.match(e.message, new RegExp(`^column ${pos + 1}: `), `message names the column for ${q}`);
  }
});

// ---------------------------------------------------------------- FloQL evaluator

const MIN = 60_000;
/** Deterministic non-trivial value formula. */
const f = (i: number, k: number) => Math.sin(i / 7 + k) * 50 + (i % 13) * 3 + k * 100;

/** A series with a point every `step` ms starting at `start`, `n` points. */
function gen(tags: Record<string, string>, k: number, start: number, step: number, n: number): Series {
  return { tags, points: Array.from({ length: n }, (_, i) => ({ timestamp: start + i * step, value: f(i, k) })) };
}

/** Straightforward reference: bucket by floor(ts / w) * w, compute fn per bucket. */
function reference(points: Array<{ timestamp: number; value: number }>, fn: string, w: number) {
  const starts: number[] = [];
  for (const p of points) {
    const s = Math.floor(p.timestamp / w) * w;
    if (!starts.includes(s)) starts.push(s);
  }
  starts.sort((a, b) => a - b);
  const out: Array<{ timestamp: number; value: number }> = [];
  for (const s of starts) {
    const inW = points.filter((p) => p.timestamp >= s && p.timestamp < s + w).sort((a, b) => a.timestamp - b.timestamp);
    let v: number;
    if (fn === 'avg') {
      let sum = 0;
      for (const p of inW) sum += p.value;
      v = sum / inW.length;
    } else if (fn === 'sum') {
      v = 0;
      for (const p of inW) v += p.value;
    } else if (fn === 'min') {
      v = inW[0].value;
      for (const p of inW) if (p.value < v) v = p.value;
    } else if (fn === 'max') {
      v = inW[0].value;
      for (const p of inW) if (p.value > v) v = p.value;
    } else if (fn === 'count') {
      v = inW.length;
    } else if (fn === 'last') {
      v = inW[inW.length - 1].value;
    } else {
      if (inW.length < 2) continue;
      const a = inW[0];
      const b = inW[inW.length - 1];
      v = (b.value - a.value) / ((b.timestamp - a.timestamp) / 1000);
    }
    out.push({ timestamp: s, value: v });
  }
  return out;
}

function close(t: Pick<typeof tap, 'equal'>, got: Series['points'], want: Series['points'], msg: string) {
  t.equal(got.length, want.length, `${msg}: point count`);
  let bad = 0;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    if (got[i].timestamp !== want[i].timestamp || Math.abs(got[i].value - want[i].value) > 1e-9 * Math.max(1, Math.abs(want[i].value))) bad++;
  }
  t.equal(bad, 0, `${msg}: all points match`);
}

t.test('evaluate: every window function matches an independent computation', async (t) => {
  const base = 1_699_999_000_000; // not aligned to 5m, so the first window is partial
  const s = gen({ host: 'a' }, 1, base + 1234, 17_000, 400); // ~1.9h of points every 17s
  const now = s.points[s.points.length - 1].timestamp + 5_000;
  for (const fn of ['avg', 'sum', 'min', 'max', 'count', 'last', 'rate']) {
    const q = parseFloQL(`cpu[1h] | ${fn}(5m)`);
    const res = evaluate(q, [s], now);
    const inRange = s.points.filter((p) => p.timestamp > now - 3_600_000 && p.timestamp <= now);
    const want = reference(inRange, fn, 5 * MIN);
    t.ok(want.length >= 12, `${fn}: reference has windows`);
    t.equal(res.length, 1, fn);
    t.strictSame(res[0].tags, { host: 'a' });
    close(t, res[0].points, want, fn);
    for (const p of res[0].points) t.equal(p.timestamp % (5 * MIN), 0, `${fn}: window start is epoch-aligned`);
  }
});

t.test('evaluate: range is (now - range, now]', async (t) => {
  const s: Series = { tags: {}, points: [0, 1, 2, 3, 4, 5].map((i) => ({ timestamp: 1000 * i, value: i })) };
  const res = evaluate(parseFloQL('m[3s]'), [s], 4000);
  t.strictSame(res[0].points.map((p) => p.timestamp), [2000, 3000, 4000], 'excludes now-range, includes now, excludes the future');
  t.strictSame(evaluate(parseFloQL('m'), [s], 4000)[0].points.length, 6, 'no range = no time restriction');
  t.strictSame(evaluate(parseFloQL('m[1s]'), [s], 100_000), [], 'series with no points in range are omitted');
});

t.test('evaluate: matchers filter series (missing tag = empty string)', async (t) => {
  const series: Series[] = [
    gen({ host: 'web-01', dc: 'eu' }, 0, 0, 1000, 3),
    gen({ host: 'web-02', dc: 'us' }, 1, 0, 1000, 3),
    gen({ host: 'db-01', dc: 'eu' }, 2, 0, 1000, 3),
    gen({ host: 'xweb-03' }, 3, 0, 1000, 3),
  ];
  const hosts = (q: string) => evaluate(parseFloQL(q), series, 10_000).map((s) => s.tags.host);
  t.strictSame(hosts('m{host=web-01}'), ['web-01']);
  t.strictSame(hosts('m{host!=web-01}'), ['web-02', 'db-01', 'xweb-03']);
  t.strictSame(hosts('m{host=~"web-.*"}'), ['web-01', 'web-02'], 'regex fully anchored');
  t.strictSame(hosts('m{host!~"web-.*"}'), ['db-01', 'xweb-03']);
  t.strictSame(hosts('m{dc=eu,host=~".*01"}'), ['web-01', 'db-01']);
  t.strictSame(hosts('m{dc=""}'), ['xweb-03'], 'missing tag matches empty string');
  t.strictSame(hosts('m{dc!=""}'), ['web-01', 'web-02', 'db-01']);
  // Without `by`, series stay separate and keep their tags and points.
  const all = evaluate(parseFloQL('m'), series, 10_000);
  t.strictSame(all, series);
  t.not(all[0], series[0], 'returns new objects');
});

t.test('evaluate: by() pools member points before the stage', async (t) => {
  const base = 1_700_000_100_000;
  const series: Series[] = [
    gen({ host: 'a', dc: 'eu', rack: '1' }, 0, base, 7_000, 200),
    gen({ host: 'b', dc: 'eu', rack: '2' }, 1, base + 3_000, 11_000, 150),
    gen({ host: 'c', dc: 'us', rack: '1' }, 2, base + 500, 13_000, 120),
    gen({ host: 'd' }, 3, base, 9_000, 100),
  ];
  const now = base + 1_500_000;
  for (const fn of ['avg', 'sum', 'count', 'max', 'rate']) {
    const res = evaluate(parseFloQL(`m[20m] | ${fn}(2m) by (dc)`), series, now);
    t.strictSame(res.map((r) => r.tags), [{ dc: 'eu' }, { dc: 'us' }, {}], `${fn}: group tags reduced to the by-tags, order of first appearance`);
    const pool = (members: Series[]) => members.flatMap((s) => s.points).filter((p) => p.timestamp > now - 20 * MIN && p.timestamp <= now);
    close(t, res[0].points, reference(pool([series[0], series[1]]), fn, 2 * MIN), `${fn} eu`);
    close(t, res[1].points, reference(pool([series[2]]), fn, 2 * MIN), `${fn} us`);
    close(t, res[2].points, reference(pool([series[3]]), fn, 2 * MIN), `${fn} (no dc)`);
  }
  const two = evaluate(parseFloQL('m | count(1h) by (dc, rack)'), series, now);
  t.strictSame(two.map((r) => r.tags), [{ dc: 'eu', rack: '1' }, { dc: 'eu', rack: '2' }, { dc: 'us', rack: '1' }, {}]);
  // Grouping without stages: pooled, sorted points.
  const raw = evaluate(parseFloQL('m{dc=eu} by (dc)'), series, now);
  t.equal(raw.length, 1);
  t.equal(raw[0].points.length, 350);
  t.ok(raw[0].points.every((p, i, a) => i === 0 || a[i - 1].timestamp <= p.timestamp), 'sorted by timestamp');
});

t.test('evaluate: stages apply in order; rate drops windows with < 2 points', async (t) => {
  // Counter increasing by 2 per second, sampled every 10 s.
  const s: Series = { tags: { h: 'a' }, points: Array.from({ length: 60 }, (_, i) => ({ timestamp: i * 10_000, value: 2 * i * 10 })) };
  const rate = evaluate(parseFloQL('m | rate(1m)'), [s], 1e9)[0].points;
  t.equal(rate.length, 10);
  t.ok(rate.every((p) => Math.abs(p.value - 2) < 1e-12), 'rate of a 2/s counter is 2');
  // A window with a single point is dropped.
  const lonely: Series = { tags: {}, points: [{ timestamp: 0, value: 1 }, { timestamp: 30_000, value: 4 }, { timestamp: 60_000, value: 9 }] };
  t.strictSame(evaluate(parseFloQL('m | rate(1m)'), [lonely], 1e9)[0].points, [{ timestamp: 0, value: 0.1 }]);
  // Chained: 1m averages then 5m max of those averages, checked with the reference.
  const g = gen({}, 5, 123_456, 4_000, 1000);
  const chained = evaluate(parseFloQL('m | avg(1m) | max(5m)'), [g], 1e13)[0].points;
  close(t, chained, reference(reference(g.points, 'avg', MIN), 'max', 5 * MIN), 'avg then max');
  const swapped = evaluate(parseFloQL('m | max(5m) | avg(1m)'), [g], 1e13)[0].points;
  close(t, swapped, reference(reference(g.points, 'max', 5 * MIN), 'avg', MIN), 'max then avg');
  // Unsorted input is sorted first; "last" means latest timestamp.
  const shuffled: Series = { tags: {}, points: [{ timestamp: 50, value: 5 }, { timestamp: 10, value: 1 }, { timestamp: 30, value: 3 }] };
  t.strictSame(evaluate(parseFloQL('m | last(1s)'), [shuffled], 1e9)[0].points, [{ timestamp: 0, value: 5 }]);
  t.strictSame(evaluate(parseFloQL('m'), [shuffled], 1e9)[0].points.map((p) => p.timestamp), [10, 30, 50]);
  t.strictSame(shuffled.points.map((p) => p.timestamp), [50, 10, 30], 'input not mutated');
});

t.test('evaluate: windows align to epoch for negative timestamps too', async (t) => {
  const s: Series = { tags: {}, points: [{ timestamp: -1500, value: 1 }, { timestamp: -500, value: 3 }, { timestamp: 500, value: 10 }] };
  t.strictSame(evaluate(parseFloQL('m | sum(1s)'), [s], 0 + 1e6)[0].points, [
    { timestamp: -2000, value: 1 },
    { timestamp: -1000, value: 3 },
    { timestamp: 0, value: 10 },
  ]);
});

t.test('evaluate: hand-built AST without compiled regex still works', async (t) => {
  const q: FloQuery = { measurement: 'm', matchers: [{ key: 'h', op: '=~', value: 'a|b' }], stages: [], by: [] };
  const res = evaluate(q, [gen({ h: 'a' }, 0, 0, 1, 1), gen({ h: 'ab' }, 0, 0, 1, 1)], 10);
  t.strictSame(res.map((r) => r.tags.h), ['a']);
});
