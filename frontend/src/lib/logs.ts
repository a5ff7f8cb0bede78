/**
 * Log viewer logic: a capped line buffer, search matching and highlight splitting.
 * Pure and framework-free so it can be tested without a DOM.
 */
import { parseAnsi, type AnsiSegment } from "./ansi";

export const LOG_BUFFER_CAP = 20_000;
export const LOG_TAIL_OPTIONS = [100, 500, 1000, 5000] as const;

export interface RawLogLine {
  container: string;
  stream: "stdout" | "stderr" | string;
  ts: string | null;
  message: string;
}

export interface LogEntry extends RawLogLine {
  /** Stable, increasing id (React key). */
  id: number;
  /** The message without escape sequences (search runs on this). */
  text: string;
  segments: AnsiSegment[];
}

/**
 * The in-memory lines of a log view, oldest first, capped at `cap` lines (the oldest
 * are dropped). `version` changes on every mutation so React can re-render cheaply.
 */
export class LogBuffer {
  private lines: LogEntry[] = [];
  private nextId = 1;
  /** How many lines were dropped because of the cap since the last `clear`. */
  dropped = 0;
  version = 0;

  constructor(readonly cap: number = LOG_BUFFER_CAP) {
    if (!Number.isInteger(cap) || cap < 1) throw new Error("cap must be a positive integer");
  }

  get size(): number {
    return this.lines.length;
  }

  toArray(): readonly LogEntry[] {
    return this.lines;
  }

  private entry(line: RawLogLine): LogEntry {
    const message = line.message.replace(/\n$/, "");
    const segments = parseAnsi(message);
    return {
      container: line.container,
      stream: line.stream,
      ts: line.ts,
      message,
      id: this.nextId++,
      text: segments.map((s) => s.text).join(""),
      segments,
    };
  }

  /**
   * Appends lines, dropping the oldest beyond the cap. Returns how many were dropped.
   * With `byTime`, lines are merged into place by timestamp (streams of several
   * containers arrive container by container, each in order).
   */
  push(lines: readonly RawLogLine[], opts: { byTime?: boolean } = {}): number {
    if (lines.length === 0) return 0;
    let incoming = lines.map((l) => this.entry(l));
    let merged: LogEntry[];
    if (opts.byTime) {
      incoming = sortByTime(incoming);
      merged = mergeByTime(this.lines, incoming);
    } else {
      merged = this.lines.concat(incoming);
    }
    let dropped = 0;
    if (merged.length > this.cap) {
      dropped = merged.length - this.cap;
      merged = merged.slice(dropped);
    }
    this.lines = merged;
    this.dropped += dropped;
    this.version += 1;
    return dropped;
  }

  /** Replaces every line (a fresh fetch or a new follow stream). */
  replace(lines: readonly RawLogLine[]): void {
    this.lines = [];
    this.dropped = 0;
    this.push(lines);
    this.version += 1;
  }

  clear(): void {
    this.lines = [];
    this.dropped = 0;
    this.version += 1;
  }
}

/** Stable sort by timestamp (RFC 3339 from one engine sorts as text); lines without one keep their place after the previous line. */
export function sortByTime<T extends { ts: string | null }>(lines: readonly T[]): T[] {
  let sorted = true;
  let last = "";
  for (const l of lines) {
    if (l.ts === null) continue;
    if (l.ts < last) {
      sorted = false;
      break;
    }
    last = l.ts;
  }
  if (sorted) return lines as T[];
  // Give untimed lines the time of the line before them so they stay next to it.
  let carry = "";
  const keyed = lines.map((l, i) => {
    if (l.ts !== null) carry = l.ts;
    return { l, k: l.ts ?? carry, i };
  });
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i));
  return keyed.map((x) => x.l);
}

/** Merges sorted `incoming` into sorted `existing`; usually just an append. */
export function mergeByTime<T extends { ts: string | null }>(existing: readonly T[], incoming: readonly T[]): T[] {
  const first = incoming.find((l) => l.ts !== null)?.ts ?? undefined;
  let lastExisting: string | undefined;
  for (let k = existing.length - 1; k >= 0 && lastExisting === undefined; k -= 1) lastExisting = existing[k]!.ts ?? undefined;
  if (first === undefined || lastExisting === undefined || first >= lastExisting) return existing.concat(incoming);
  // Binary search for the first existing line later than `first`.
  let lo = 0;
  let hi = existing.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const ts = existing[mid]!.ts;
    if (ts !== null && ts > first) hi = mid;
    else lo = mid + 1;
  }
  const head = existing.slice(0, lo);
  const tail = existing.slice(lo);
  const out: T[] = head;
  let i = 0;
  let j = 0;
  while (i < tail.length || j < incoming.length) {
    const a = tail[i];
    const b = incoming[j];
    if (b === undefined || (a !== undefined && (a.ts ?? "") <= (b.ts ?? ""))) {
      out.push(a!);
      i += 1;
    } else {
      out.push(b);
      j += 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------- search

export interface Range {
  start: number;
  end: number;
}

/** Case-insensitive, non-overlapping occurrences of `query` in `text`. */
export function findMatches(text: string, query: string): Range[] {
  if (!query) return [];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  const ranges: Range[] = [];
  let from = 0;
  for (;;) {
    const at = hay.indexOf(needle, from);
    if (at === -1) break;
    ranges.push({ start: at, end: at + needle.length });
    from = at + needle.length;
  }
  return ranges;
}

export function lineMatches(entry: Pick<LogEntry, "text" | "container">, query: string): boolean {
  if (!query) return true;
  const q = query.toLowerCase();
  return entry.text.toLowerCase().includes(q);
}

/** Indices of the entries that match (all of them when the query is empty). */
export function filterEntries(entries: readonly LogEntry[], query: string, container = ""): LogEntry[] {
  if (!query && !container) return entries as LogEntry[];
  return entries.filter((e) => (!container || e.container === container) && lineMatches(e, query));
}

export interface MarkedSegment extends AnsiSegment {
  mark: boolean;
}

/**
 * Splits styled segments at the match ranges (offsets into the joined text), so a
 * match that spans a colour change is highlighted across both parts.
 */
export function markSegments(segments: readonly AnsiSegment[], ranges: readonly Range[]): MarkedSegment[] {
  if (ranges.length === 0) return segments.map((s) => ({ ...s, mark: false }));
  const out: MarkedSegment[] = [];
  let offset = 0;
  let r = 0;
  for (const seg of segments) {
    const segStart = offset;
    const segEnd = offset + seg.text.length;
    let pos = segStart;
    while (pos < segEnd) {
      while (r < ranges.length && ranges[r]!.end <= pos) r += 1;
      const range = ranges[r];
      if (!range || range.start >= segEnd) {
        out.push({ text: seg.text.slice(pos - segStart), style: seg.style, mark: false });
        pos = segEnd;
      } else if (range.start > pos) {
        out.push({ text: seg.text.slice(pos - segStart, range.start - segStart), style: seg.style, mark: false });
        pos = range.start;
      } else {
        const end = Math.min(range.end, segEnd);
        out.push({ text: seg.text.slice(pos - segStart, end - segStart), style: seg.style, mark: true });
        pos = end;
      }
    }
    offset = segEnd;
  }
  return out;
}

// ---------------------------------------------------------------- display helpers

/** `2025-03-04T14:05:09.123456789Z` -> local `2025-03-04 15:05:09.123` (`15:05:09.123` when compact). */
export function formatLogTimestamp(ts: string | null, compact = false): string {
  if (!ts) return "";
  // Date.parse understands at most milliseconds: trim the nanoseconds.
  const trimmed = ts.replace(/(\.\d{3})\d+/, "$1");
  const d = new Date(trimmed);
  if (Number.isNaN(d.getTime())) return ts;
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  if (compact) return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

const CONTAINER_COLORS = ["#60a5fa", "#4ade80", "#f472b6", "#facc15", "#a78bfa", "#22d3ee", "#fb923c", "#34d399"] as const;

/** A stable colour per container name, so interleaved containers are told apart. */
export function containerColor(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i += 1) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return CONTAINER_COLORS[h % CONTAINER_COLORS.length]!;
}

/** Short label for a container: the compose project prefix is noise in a one-service view. */
export function shortContainerName(name: string, serviceName?: string): string {
  const clean = name.replace(/^\//, "");
  if (serviceName && clean.startsWith(`${serviceName}-`) && clean.length > serviceName.length + 1) {
    return clean.slice(serviceName.length + 1);
  }
  return clean;
}
