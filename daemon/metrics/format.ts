// Number and duration formatting shared by the host and agent metric shapes: the Edge Admin
// reference rounds GB / MB / percent figures to one decimal and writes uptimes as "1d 1h 1m".

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Rounds to one decimal place (67.24 → 67.2, 8 → 8). */
export const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Bytes as gigabytes (GiB, like the reference: 8589934592 → 8.0), one decimal. */
export const toGb = (bytes: number): number => round1(bytes / GIB);

/** Bytes as megabytes (MiB, like the reference: 125829120 → 120.0), one decimal. */
export const toMb = (bytes: number): number => round1(bytes / MIB);

/** Share of `part` in `total` as a percentage in [0, 100], one decimal; 0 when total is 0. */
export const percent = (part: number, total: number): number => (total > 0 ? round1(Math.min(100, Math.max(0, (part / total) * 100))) : 0);

/**
 * Human-readable uptime as the reference writes it: "1d 1h 1m" (90061 s), "5h 15m", "30m".
 * Days and hours are shown once they are non-zero, minutes always.
 */
export function humanUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}
