// InfluxDB line protocol parser (pure; no I/O).
//
//   <measurement>[,<tag_key>=<tag_value>...] <field_key>=<field_value>[,...] [<timestamp>]
//
// Escaping (a backslash before any other character is a literal backslash):
//   measurement:                     \,  \<space>
//   tag keys, tag values, field keys: \,  \=  \<space>
//   string field values:              \"  \\
// A quoted string field value may contain newlines; lines are otherwise separated by "\n"
// ("\r\n" is accepted). Blank lines and lines whose first non-blank character is '#' are skipped.
// Given bytes, the body must be valid UTF-8: a decode would silently turn bad bytes into U+FFFD
// and store a different name than was sent, so the batch is rejected naming the token.

export type FieldType = 'float' | 'integer' | 'uinteger' | 'boolean' | 'string';
export type Precision = 'ns' | 'us' | 'ms' | 's';

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | boolean | string>;
  fieldTypes: Record<string, FieldType>;
  /** Milliseconds since the epoch; may be fractional for sub-ms precision. */
  timestamp: number;
}

export interface ParseOptions {
  precision: Precision;
  /** Default timestamp (ms since epoch) for lines without one. */
  now: number;
}

export class LineProtocolError extends Error {
  readonly code = 'TS_BAD_LINE' as const;
  readonly line: number;
  constructor(line: number, what: string) {
    super(`line ${line}: ${what}`);
    this.name = 'LineProtocolError';
    this.line = line;
  }
}

import { isUtf8 } from 'node:buffer';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+i$/;
const UINT_RE = /^\d+u$/;
const TS_RE = /^-?\d+$/;
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);
const NS_PER_UNIT: Record<Precision, bigint> = { ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n };

/** Own, enumerable assignment that is safe for keys such as "__proto__". */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function show(s: string): string {
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);
}

/** Byte offset of the first byte that is not part of a valid UTF-8 sequence (-1 when none). */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) { n = 2; if (c === 0xe0) lo = 0xa0; else if (c === 0xed) hi = 0x9f; } // no overlongs, no surrogates
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; if (c === 0xf0) lo = 0x90; else if (c === 0xf4) hi = 0x8f; } // no overlongs, nothing past U+10FFFF
    else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/** Where a body's first invalid UTF-8 byte is: in the decoded string, and in the bytes. */
interface BadUtf8 { index: number; offset: number; byte: number }

class LineParser {
  pos = 0;
  lineNo = 1;
  constructor(readonly src: string, readonly bad?: BadUtf8) {}

  /** Fails when the text read from `start` to the current position holds the invalid UTF-8. */
  checkUtf8(start: number, what: string, key?: string): void {
    const b = this.bad;
    if (b && b.index >= start && b.index < this.pos) {
      this.fail(`${what}${key === undefined ? '' : ` ${show(key)}`} is not valid UTF-8 (byte 0x${b.byte.toString(16).padStart(2, '0')} at offset ${b.offset} of the body)`);
    }
  }

  fail(what: string): never {
    throw new LineProtocolError(this.lineNo, what);
  }

  atEol(): boolean {
    const c = this.src[this.pos];
    return c === undefined || c === '\n' || (c === '\r' && (this.src[this.pos + 1] === '\n' || this.pos + 1 === this.src.length));
  }

  skipBlanks(): void {
    while (this.src[this.pos] === ' ' || this.src[this.pos] === '\t') this.pos++;
  }

  /** Move past the end of the current line (and its newline). */
  nextLine(): void {
    while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
    if (this.pos < this.src.length) {
      this.pos++;
      this.lineNo++;
    }
  }

  /**
   * Read an identifier-ish token until an unescaped stop character or end of line.
   * `escapable` lists characters that a backslash escapes.
   */
  readToken(stops: string, escapable: string, what: string, key?: string): string {
    const start = this.pos;
    let out = '';
    while (!this.atEol()) {
      const c = this.src[this.pos];
      if (c === '\\' && this.pos + 1 < this.src.length && escapable.includes(this.src[this.pos + 1])) {
        out += this.src[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (stops.includes(c)) break;
      out += c;
      this.pos++;
    }
    if (this.bad) this.checkUtf8(start, what, key);
    return out;
  }

  parseLine(opts: ParseOptions): Point {
    const measurement = this.readToken(', \t', ', ', 'the measurement');
    if (measurement === '') this.fail('missing measurement name');
    if (this.atEol()) this.fail(`missing fields after measurement ${show(measurement)}`);

    const tagList: Array<[string, string]> = [];
    while (this.src[this.pos] === ',') {
      this.pos++;
      const key = this.readToken(',= \t', ',= ', 'a tag key');
      if (key === '') this.fail('empty tag key');
      if (this.src[this.pos] !== '=') this.fail(`tag ${show(key)} has no value (expected "=")`);
      this.pos++;
      const value = this.readToken(',= \t', ',= ', 'the value of tag', key);
      if (this.src[this.pos] === '=') this.fail(`tag ${show(key)} value contains an unescaped "="`);
      if (value === '') this.fail(`tag ${show(key)} has an empty value`);
      if (tagList.some(([k]) => k === key)) this.fail(`duplicate tag key ${show(key)}`);
      tagList.push([key, value]);
    }
    if (this.src[this.pos] !== ' ' && this.src[this.pos] !== '\t') this.fail('missing fields (expected a space before the field set)');
    this.skipBlanks();
    if (this.atEol()) this.fail('missing fields (a point needs at least one field)');

    tagList.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const tags: Record<string, string> = {};
    for (const [k, v] of tagList) put(tags, k, v);

    const fields: Record<string, number | boolean | string> = {};
    const fieldTypes: Record<string, FieldType> = {};
    for (;;) {
      const key = this.readToken(',= \t', ',= ', 'a field key');
      if (key === '') this.fail('empty field key');
      if (this.src[this.pos] !== '=') this.fail(`field ${show(key)} has no value (expected "=")`);
      this.pos++;
      const [value, type] = this.readFieldValue(key);
      // InfluxDB keeps the last value of a duplicated field key.
      put(fields, key, value);
      put(fieldTypes, key, type);
      if (this.src[this.pos] === ',') {
        this.pos++;
        continue;
      }
      break;
    }

    let timestamp = opts.now;
    if (!this.atEol()) {
      if (this.src[this.pos] !== ' ' && this.src[this.pos] !== '\t') this.fail(`unexpected character ${show(this.src[this.pos])} after field set`);
      this.skipBlanks();
      if (!this.atEol()) {
        const raw = this.readToken(' \t', '', 'the timestamp');
        if (!TS_RE.test(raw)) this.fail(`timestamp ${show(raw)} is not an integer`);
        const big = BigInt(raw);
        if (big < INT64_MIN || big > INT64_MAX) this.fail(`timestamp ${raw} is out of int64 range`);
        const ns = big * NS_PER_UNIT[opts.precision];
        timestamp = Number(ns / 1000000n) + Number(ns % 1000000n) / 1e6;
        this.skipBlanks();
        if (!this.atEol()) this.fail(`unexpected text after timestamp`);
      }
    }
    return { measurement, tags, fields, fieldTypes, timestamp };
  }

  readFieldValue(key: string): [number | boolean | string, FieldType] {
    if (this.src[this.pos] === '"') {
      const start = this.pos;
      this.pos++;
      let out = '';
      for (;;) {
        if (this.pos >= this.src.length) this.fail(`field ${show(key)} has an unterminated string value`);
        const c = this.src[this.pos];
        if (c === '\\' && (this.src[this.pos + 1] === '"' || this.src[this.pos + 1] === '\\')) {
          out += this.src[this.pos + 1];
          this.pos += 2;
          continue;
        }
        if (c === '"') {
          this.pos++;
          if (this.bad) this.checkUtf8(start, 'the string value of field', key);
          break;
        }
        if (c === '\n') this.lineNo++; // strings may span lines; errors report the current line
        out += c;
        this.pos++;
      }
      if (!this.atEol() && !', \t'.includes(this.src[this.pos])) this.fail(`unexpected character ${show(this.src[this.pos])} after string value of field ${show(key)}`);
      return [out, 'string'];
    }
    const raw = this.readToken(', \t', '', 'the value of field', key);
    if (raw === '') this.fail(`field ${show(key)} has an empty value`);
    if (TRUE.has(raw)) return [true, 'boolean'];
    if (FALSE.has(raw)) return [false, 'boolean'];
    if (INT_RE.test(raw)) {
      const big = BigInt(raw.slice(0, -1));
      if (big < INT64_MIN || big > INT64_MAX) this.fail(`field ${show(key)} integer ${raw} is out of int64 range`);
      return [Number(big), 'integer'];
    }
    if (UINT_RE.test(raw)) {
      const big = BigInt(raw.slice(0, -1));
      if (big > UINT64_MAX) this.fail(`field ${show(key)} unsigned integer ${raw} is out of uint64 range`);
      return [Number(big), 'uinteger'];
    }
    if (FLOAT_RE.test(raw)) {
      const n = Number(raw);
      if (!Number.isFinite(n)) this.fail(`field ${show(key)} float ${raw} is out of range`);
      return [n, 'float'];
    }
    this.fail(`field value ${show(raw)} is not a number, boolean or quoted string`);
  }
}

/**
 * Parse a batch of line protocol. Throws LineProtocolError on the first bad line, so a
 * batch is either accepted whole or rejected whole.
 */
export function parseLineProtocol(input: string | Uint8Array, opts: ParseOptions): Point[] {
  if (!Object.hasOwn(NS_PER_UNIT, opts.precision)) throw new TypeError(`unknown precision ${String(opts.precision)}`);
  let body: string;
  let bad: BadUtf8 | undefined;
  if (typeof input === 'string') body = input;
  else {
    const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    body = buf.toString('utf8');
    if (!isUtf8(buf)) {
      const offset = firstInvalidUtf8(buf);
      // The bytes before it are valid, so they decode to exactly the text before its U+FFFD.
      bad = { offset, byte: buf[offset], index: buf.toString('utf8', 0, offset).length };
    }
  }
  const p = new LineParser(body, bad);
  const points: Point[] = [];
  while (p.pos < body.length) {
    p.skipBlanks();
    if (p.atEol()) {
      p.nextLine();
      continue;
    }
    if (body[p.pos] === '#') {
      p.nextLine();
      continue;
    }
    points.push(p.parseLine(opts));
    if (p.src[p.pos] === '\r') p.pos++;
    if (p.pos < body.length) p.nextLine();
  }
  if (bad) {
    // Not inside any token (a comment, blanks): still not a valid body.
    const line = 1 + (body.slice(0, bad.index).match(/\n/g)?.length ?? 0);
    throw new LineProtocolError(line, `not valid UTF-8 (byte 0x${bad.byte.toString(16).padStart(2, '0')} at offset ${bad.offset} of the body)`);
  }
  return points;
}
