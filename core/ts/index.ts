// Public surface of the Outpost time-series parsers.
export { parseLineProtocol, LineProtocolError } from './line-protocol';
export type { Point, FieldType, Precision, ParseOptions } from './line-protocol';
export { parseFloQL, evaluate, matches, anchoredRegex, FloQLError, STAGE_FNS } from './floql';
export type { FloQuery, Matcher, MatchOp, Stage, StageFn, Series, SeriesPoint } from './floql';
export { TsStore, seriesKeyOf, type TsQueryResult, type TsSeriesOut } from './store';
