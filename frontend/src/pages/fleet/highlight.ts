/**
 * Which parts of a log line a search matched, for highlighting: the same rules as the
 * server (case-insensitive substring, or a case-insensitive regular expression).
 */
import { findMatches, type Range } from "@/lib/logs";

export interface Segment {
  text: string;
  mark: boolean;
}

/** A matcher for `query`: ranges of every match in a text (none for an empty query). */
export function matcher(query: string, regex: boolean): (text: string) => Range[] {
  if (!query) return () => [];
  if (!regex) return (text) => findMatches(text, query);
  let re: RegExp;
  try {
    re = new RegExp(query, "gi");
  } catch {
    // The server's (Python) syntax can differ: no highlight rather than a wrong one.
    return () => [];
  }
  return (text) => {
    const ranges: Range[] = [];
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex += 1; // an empty match would loop forever
        continue;
      }
      ranges.push({ start: m.index, end: m.index + m[0].length });
      if (ranges.length >= 100) break;
    }
    return ranges;
  };
}

/** `text` cut into marked and unmarked pieces at `ranges` (sorted, non-overlapping). */
export function splitByRanges(text: string, ranges: readonly Range[]): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  for (const r of ranges) {
    const start = Math.max(r.start, pos);
    const end = Math.min(r.end, text.length);
    if (end <= start) continue;
    if (start > pos) out.push({ text: text.slice(pos, start), mark: false });
    out.push({ text: text.slice(start, end), mark: true });
    pos = end;
  }
  if (pos < text.length || out.length === 0) out.push({ text: text.slice(pos), mark: false });
  return out;
}

/** Shorthand: the highlighted segments of `text` for a search. */
export function highlight(text: string, query: string, regex: boolean): Segment[] {
  return splitByRanges(text, matcher(query, regex)(text));
}
