/** Pure helpers of the metrics charts: ranges, polling, axis labels, unit conversion. */
import { formatBytes } from "@/lib/format";

export const METRICS_RANGES = ["1h", "6h", "24h", "7d", "30d"] as const;
export type MetricsRange = (typeof METRICS_RANGES)[number] | "90d";

export const RANGE_LABELS: Record<MetricsRange, string> = {
  "1h": "1 hour",
  "6h": "6 hours",
  "24h": "24 hours",
  "7d": "7 days",
  "30d": "30 days",
  "90d": "90 days",
};

/** Short ranges refresh with the sampling interval; long ones with their (coarser) buckets. */
export function pollIntervalMs(range: MetricsRange): number {
  switch (range) {
    case "1h":
      return 10_000;
    case "6h":
      return 30_000;
    case "24h":
      return 60_000;
    default:
      return 300_000;
  }
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Axis label: "14:05" within a day, "11-18 14:00" up to a week, "11-18" beyond. */
export function tickLabel(ts: string | number, range: MetricsRange): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const day = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (range === "1h" || range === "6h" || range === "24h") return time;
  if (range === "7d") return `${day} ${time}`;
  return day;
}

/** "30 s", "5 min", "2 h", "1 d". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** What a point is: "raw samples, 10 s points", "1-minute averages, 30 min points". */
export function tierLabel(tier: "raw" | "1m" | "1h", resolutionS: number): string {
  const source = tier === "raw" ? "raw samples" : tier === "1m" ? "1-minute averages" : "1-hour averages";
  return `${source}, ${formatDuration(resolutionS)} points`;
}

/** Bytes per second as "512 B/s", "1.2 MiB/s". */
export function formatRate(bytesPerS: number | null | undefined): string {
  const text = formatBytes(bytesPerS);
  return text === "—" ? text : `${text}/s`;
}

/** "12.5%" (one decimal below 10, none above), "—" for null. */
export function formatPercent(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return "—";
  return `${value < 10 ? value.toFixed(1) : Math.round(value)}%`;
}

/** used / total as a percentage (0 when the total is unknown). */
export function percentOf(used: number, total: number): number {
  return total > 0 ? (100 * used) / total : 0;
}

/** Chart rows: `ts` as epoch ms plus the picked (derived) fields. */
export function toRows<P extends { ts: string }>(
  points: readonly P[],
  fields: Record<string, (p: P) => number>,
): Record<string, number>[] {
  return points.map((p) => {
    const row: Record<string, number> = { ts: new Date(p.ts).getTime() };
    for (const [key, pick] of Object.entries(fields)) row[key] = pick(p);
    return row;
  });
}

/** X axis bounds in epoch ms: from the series' start to now (or the last point if later). */
export function timeDomain(since: string | undefined, rows: readonly { ts?: number }[], now: number = Date.now()): [number, number] {
  const last = rows.at(-1)?.ts ?? now;
  const start = since ? Date.parse(since) : (rows[0]?.ts ?? now);
  return [Number.isNaN(start) ? (rows[0]?.ts ?? now) : start, Math.max(now, last)];
}

/** `count` evenly spaced tick values across `domain` (both ends included). */
export function evenTicks(domain: [number, number], count = 5): number[] {
  const [start, end] = domain;
  if (end <= start || count < 2) return [start];
  const step = (end - start) / (count - 1);
  return Array.from({ length: count }, (_, i) => Math.round(start + i * step));
}
