// Streaming window aggregation for FloQL's first pipeline stage. Points (and pre-aggregated
// rollup buckets) are folded into per-window accumulators as they are read, so memory grows
// with the number of windows, not the number of points. Results equal floql.ts's evaluate():
// ties on timestamps resolve in the order points are folded (first seen is `first`, last seen
// is `last`), as its stable sort does.
import { applyStage, type Series, type SeriesPoint, type StageFn, type Stage } from './floql';

/** [sum, count, min, max, firstT, firstV, lastT, lastV] */
export type Agg = Float64Array;
export const AGG_BYTES = 64;

export function newAgg(): Agg {
  const a = new Float64Array(8);
  a[2] = Infinity;
  a[3] = -Infinity;
  a[4] = Infinity;
  a[6] = -Infinity;
  return a;
}

export function addPoint(a: Agg, t: number, v: number): void {
  a[0] += v;
  a[1]++;
  if (v < a[2]) a[2] = v;
  if (v > a[3]) a[3] = v;
  if (t < a[4]) { a[4] = t; a[5] = v; }
  if (t >= a[6]) { a[6] = t; a[7] = v; }
}

export function mergeAgg(a: Agg, b: Agg): void {
  if (b[1] === 0) return;
  a[0] += b[0];
  a[1] += b[1];
  if (b[2] < a[2]) a[2] = b[2];
  if (b[3] > a[3]) a[3] = b[3];
  if (b[4] < a[4]) { a[4] = b[4]; a[5] = b[5]; }
  if (b[6] >= a[6]) { a[6] = b[6]; a[7] = b[7]; }
}

/** The stage function's value for one window, or undefined when it has none (rate of < 2 points). */
export function finalize(fn: StageFn, a: Agg): number | undefined {
  switch (fn) {
    case 'avg': return a[0] / a[1];
    case 'sum': return a[0];
    case 'min': return a[2];
    case 'max': return a[3];
    case 'count': return a[1];
    case 'last': return a[7];
    case 'rate':
      if (a[1] < 2 || a[6] === a[4]) return undefined;
      return (a[7] - a[5]) / ((a[6] - a[4]) / 1000);
  }
}

export function aggToBuffer(a: Agg): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, AGG_BYTES);
}

export function aggFromBuffer(b: Buffer): Agg {
  const a = new Float64Array(8);
  for (let i = 0; i < 8; i++) a[i] = b.readDoubleLE(i * 8);
  return a;
}

interface Group { tags: Record<string, string>; windows: Map<number, Agg> }

/** Folds the selected series of one query into groups × windows of the first stage. */
export class WindowFolder {
  private readonly groups = new Map<string, Group>();
  constructor(private readonly first: Stage, private readonly rest: Stage[]) {}

  /** The group a series' points go to: by `by` tags, or the series itself. */
  group(key: string, tags: Record<string, string>): Map<number, Agg> {
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { tags, windows: new Map() }));
    return g.windows;
  }

  point(windows: Map<number, Agg>, t: number, v: number): void {
    const w = this.first.windowMs;
    const start = Math.floor(t / w) * w;
    let a = windows.get(start);
    if (!a) windows.set(start, (a = newAgg()));
    addPoint(a, t, v);
  }

  /** A rollup bucket starting at `start`; it must lie inside one window (window % resolution === 0). */
  bucket(windows: Map<number, Agg>, start: number, b: Agg): void {
    const w = this.first.windowMs;
    const ws = Math.floor(start / w) * w;
    let a = windows.get(ws);
    if (!a) windows.set(ws, (a = newAgg()));
    mergeAgg(a, b);
  }

  result(): Series[] {
    const out: Series[] = [];
    for (const g of this.groups.values()) {
      let points: SeriesPoint[] = [];
      for (const start of [...g.windows.keys()].sort((x, y) => x - y)) {
        const v = finalize(this.first.fn, g.windows.get(start)!);
        if (v !== undefined) points.push({ timestamp: start, value: v });
      }
      for (const s of this.rest) points = applyStage(s, points);
      if (points.length) out.push({ tags: g.tags, points });
    }
    return out;
  }
}
