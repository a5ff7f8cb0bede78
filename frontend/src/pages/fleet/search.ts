/** Log search helpers: time range presets and the URL form of a search. */

export const RANGE_PRESETS = [
  { value: "15m", label: "Last 15 minutes", ms: 15 * 60_000 },
  { value: "1h", label: "Last hour", ms: 60 * 60_000 },
  { value: "6h", label: "Last 6 hours", ms: 6 * 60 * 60_000 },
  { value: "24h", label: "Last 24 hours", ms: 24 * 60 * 60_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 24 * 60 * 60_000 },
] as const;

export const LIMIT_OPTIONS = [100, 500, 1000, 5000] as const;

/** `since`/`until` (ISO, UTC) for a preset, or for custom `datetime-local` values. */
export function resolveRange(
  preset: string,
  custom: { since: string; until: string },
  now: number = Date.now(),
): { since: string; until: string } | { error: string } {
  const found = RANGE_PRESETS.find((p) => p.value === preset);
  if (found) return { since: new Date(now - found.ms).toISOString(), until: new Date(now).toISOString() };
  // `datetime-local` values carry no zone: they are the browser's local time.
  const since = custom.since ? new Date(custom.since) : null;
  const until = custom.until ? new Date(custom.until) : new Date(now);
  if (!since || Number.isNaN(since.getTime())) return { error: "Pick when the range starts." };
  if (Number.isNaN(until.getTime())) return { error: "The end of the range is not a valid time." };
  if (since >= until) return { error: "The range must start before it ends." };
  return { since: since.toISOString(), until: until.toISOString() };
}

/** Index at which `ts` goes into `sorted` (ascending, nulls first) to keep it sorted. */
export function insertionIndex(sorted: readonly { ts?: string | null }[], ts: string | null | undefined): number {
  const key = ts ?? "";
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid]!.ts ?? "") <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
