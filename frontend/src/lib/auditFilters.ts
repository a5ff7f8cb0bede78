import type { AuditOutcome, AuditQuery } from "@/api/types";

/**
 * Audit filter state. `since`/`until` are kept as UTC ISO strings (unambiguous in
 * shared links); the form shows them as local `datetime-local` values.
 */
export interface AuditFilters {
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  outcome: AuditOutcome | "";
  since: string;
  until: string;
}

export const EMPTY_AUDIT_FILTERS: AuditFilters = {
  actor: "",
  action: "",
  target_type: "",
  target_id: "",
  outcome: "",
  since: "",
  until: "",
};

export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ["success", "failure", "denied"];

const TEXT_KEYS = ["actor", "action", "target_type", "target_id"] as const;
const FILTER_KEYS = [...TEXT_KEYS, "outcome", "since", "until"] as const;

function isOutcome(v: string): v is AuditOutcome {
  return (AUDIT_OUTCOMES as readonly string[]).includes(v);
}

function normaliseIso(v: string | null): string {
  if (!v) return "";
  const t = Date.parse(v);
  return Number.isNaN(t) ? "" : new Date(t).toISOString();
}

/** Reads filters from the URL; unknown outcomes and unparsable dates are dropped. */
export function filtersFromSearchParams(sp: URLSearchParams): AuditFilters {
  const f: AuditFilters = { ...EMPTY_AUDIT_FILTERS };
  for (const key of TEXT_KEYS) f[key] = (sp.get(key) ?? "").trim();
  const outcome = sp.get("outcome") ?? "";
  f.outcome = isOutcome(outcome) ? outcome : "";
  f.since = normaliseIso(sp.get("since"));
  f.until = normaliseIso(sp.get("until"));
  return f;
}

/** Writes filters to a query string, omitting empty values, in a stable order. */
export function filtersToSearchParams(f: AuditFilters): URLSearchParams {
  const sp = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const v = f[key].trim();
    if (v) sp.set(key, v);
  }
  return sp;
}

/** API query parameters for `GET /api/v1/audit` (and the export endpoint). */
export function filtersToQuery(f: AuditFilters): AuditQuery {
  const q: AuditQuery = {};
  for (const key of TEXT_KEYS) {
    const v = f[key].trim();
    if (v) q[key] = v;
  }
  if (f.outcome) q.outcome = f.outcome;
  if (f.since) q.since = f.since;
  if (f.until) q.until = f.until;
  return q;
}

export function hasActiveFilters(f: AuditFilters): boolean {
  return FILTER_KEYS.some((k) => f[k].trim() !== "");
}

export function sameFilters(a: AuditFilters, b: AuditFilters): boolean {
  return FILTER_KEYS.every((k) => a[k].trim() === b[k].trim());
}

/** UTC ISO -> value for `<input type="datetime-local">` in the browser's timezone. */
export function isoToLocalInput(iso: string): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** `datetime-local` value (local time, no zone) -> UTC ISO, or "" if empty/invalid. */
export function localInputToIso(value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return "";
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0));
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

/** Query string for the export endpoint. */
export function exportSearch(f: AuditFilters, format: "csv" | "jsonl"): string {
  const sp = new URLSearchParams({ format });
  for (const [k, v] of Object.entries(filtersToQuery(f))) sp.set(k, String(v));
  return sp.toString();
}
