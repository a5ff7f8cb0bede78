/** Pure helpers of the Placement page: labels and port ranges as text, placement targets. */

export interface ParseResult<T> {
  value: T;
  errors: string[];
}

/** `key=value` per line (or comma-separated) into a map; blank lines are ignored. */
export function parseLabels(text: string): ParseResult<Record<string, string>> {
  const value: Record<string, string> = {};
  const errors: string[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) {
      errors.push(`"${line}" is not key=value`);
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (key in value) errors.push(`label ${key} is given twice`);
    value[key] = line.slice(eq + 1).trim();
  }
  return { value, errors };
}

export function formatLabels(labels: Record<string, unknown> | null | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join("\n");
}

export interface PortRangeValue {
  start: number;
  end: number;
}

/** `20000-29999, 31000-31010` (or one port) into ranges, checked like the server does. */
export function parseRanges(text: string): ParseResult<PortRangeValue[]> {
  const value: PortRangeValue[] = [];
  const errors: string[] = [];
  for (const raw of text.split(/[\n,]/)) {
    const item = raw.trim();
    if (!item) continue;
    const match = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(item);
    if (!match) {
      errors.push(`"${item}" is not a range like 20000-29999`);
      continue;
    }
    const start = Number(match[1]);
    const end = match[2] === undefined ? start : Number(match[2]);
    if (start < 1024 || end > 65535 || start > 65535 || end < 1024) errors.push(`${item}: ports must be within 1024-65535`);
    else if (end < start) errors.push(`${item}: the range is reversed`);
    value.push({ start, end });
  }
  const sorted = [...value].sort((a, b) => a.start - b.start);
  sorted.forEach((cur, i) => {
    const prev = i > 0 ? sorted[i - 1] : undefined;
    if (prev && cur.start <= prev.end) errors.push(`${cur.start}-${cur.end} overlaps ${prev.start}-${prev.end}`);
  });
  return { value, errors };
}

export function formatRanges(ranges: readonly PortRangeValue[]): string {
  return ranges.map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`)).join(", ");
}

/** Where a new service goes: a fixed node, a cluster's member, or any node. */
export type PlacementTarget = { kind: "auto" } | { kind: "node"; nodeId: number } | { kind: "cluster"; clusterId: number };

/** The create-request fields for a target (`node_id` / `cluster_id`, or neither). */
export function targetFields(target: PlacementTarget): { node_id?: number; cluster_id?: number } {
  if (target.kind === "node") return { node_id: target.nodeId };
  if (target.kind === "cluster") return { cluster_id: target.clusterId };
  return {};
}

/** `auto`, `node:3`, `cluster:2` (a select's value) to a target and back. */
export function targetFromValue(value: string): PlacementTarget {
  const [kind, id] = value.split(":");
  const n = Number(id);
  if (kind === "node" && Number.isInteger(n) && n > 0) return { kind: "node", nodeId: n };
  if (kind === "cluster" && Number.isInteger(n) && n > 0) return { kind: "cluster", clusterId: n };
  return { kind: "auto" };
}

export function targetValue(target: PlacementTarget): string {
  if (target.kind === "node") return `node:${target.nodeId}`;
  if (target.kind === "cluster") return `cluster:${target.clusterId}`;
  return "auto";
}
