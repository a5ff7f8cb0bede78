/**
 * The update policy form: its editable state, conversion to and from the API body, and the
 * checks the form runs before saving (the server checks again and names the same fields).
 */
import type { components } from "@/api/schema";

type Schemas = components["schemas"];
export type UpdatePolicyIn = Schemas["UpdatePolicyIn"];
export type UpdatePolicyOut = Schemas["UpdatePolicyOut"];
export type UpdateMode = UpdatePolicyIn["mode"];
export type Frequency = Schemas["ScheduleSpec"]["frequency"];
export type Weekday = "mon" | "tue" | "wed" | "thu" | "fri" | "sat" | "sun";

export const WEEKDAYS: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export interface PolicyForm {
  mode: UpdateMode;
  frequency: Frequency;
  time: string;
  weekdays: Weekday[];
  cron: string;
  timezone: string;
  timeoutS: string;
  settleS: string;
  removeOldImages: boolean;
  windowEnabled: boolean;
  windowStart: string;
  windowEnd: string;
}

/** Field path (as the server names it, without `body.`) → message. */
export type PolicyErrors = Partial<Record<string, string>>;

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

export function formFromPolicy(p: UpdatePolicyOut | undefined): PolicyForm {
  const s = p?.schedule;
  return {
    mode: p?.mode ?? "off",
    frequency: s?.frequency ?? "daily",
    time: s?.time ?? "04:00",
    weekdays: (s?.weekdays ?? []) as Weekday[],
    cron: s?.cron ?? "",
    timezone: s?.timezone ?? "UTC",
    timeoutS: String(p?.verify?.timeout_s ?? 60),
    settleS: String(p?.verify?.settle_s ?? 10),
    removeOldImages: p?.remove_old_images ?? false,
    windowEnabled: !!p?.maintenance_window,
    windowStart: p?.maintenance_window?.start ?? "01:00",
    windowEnd: p?.maintenance_window?.end ?? "05:00",
  };
}

export function policyBody(f: PolicyForm): UpdatePolicyIn {
  const schedule: Schemas["ScheduleSpec"] = { frequency: f.frequency, timezone: f.timezone };
  if (f.frequency === "cron") schedule.cron = f.cron.trim().split(/\s+/).join(" ");
  else schedule.time = f.time;
  if (f.frequency === "weekly") schedule.weekdays = WEEKDAYS.filter((d) => f.weekdays.includes(d));
  return {
    mode: f.mode,
    schedule,
    verify: { timeout_s: Number(f.timeoutS), settle_s: Number(f.settleS) },
    remove_old_images: f.removeOldImages,
    maintenance_window: f.windowEnabled ? { start: f.windowStart, end: f.windowEnd } : null,
  };
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** Values a cron field allows, or null when it is not a fixed list (`*`, steps, names…). */
function fixedValues(field: string, names: string[] = []): number[] | null {
  const out: number[] = [];
  for (const part of field.split(",")) {
    const lower = part.toLowerCase();
    const named = names.indexOf(lower);
    if (named >= 0) {
      out.push(named + 1);
      continue;
    }
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!range) return null;
    const a = Number(range[1]);
    const b = range[2] === undefined ? a : Number(range[2]);
    for (let v = a; v <= b; v++) out.push(v);
  }
  return out;
}

const CRON_FIELD = /^(\*|[0-9a-zA-Z]+(-[0-9a-zA-Z]+)?)(\/\d+)?(,(\*|[0-9a-zA-Z]+(-[0-9a-zA-Z]+)?)(\/\d+)?)*$/;
const CRON_LIMITS: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

/** Why a cron expression is refused, or null. Mirrors the server's rules. */
export function cronProblem(expr: string): string | null {
  const fields = expr.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return `needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`;
  for (const [i, field] of fields.entries()) {
    if (!CRON_FIELD.test(field)) return `field ${i + 1} (${field}) is not valid`;
    const values = fixedValues(field, i === 3 ? MONTH_NAMES : []);
    const [lo, hi] = CRON_LIMITS[i]!;
    if (values && values.some((v) => v < lo || v > hi)) return `field ${i + 1} (${field}) must be within ${lo}-${hi}`;
  }
  const days = fixedValues(fields[2]!);
  const months = fixedValues(fields[3]!, MONTH_NAMES);
  if (days && months && fields[4] === "*" && !months.some((m) => days.some((d) => d <= DAYS_IN_MONTH[m - 1]!))) {
    return "never matches a real date (e.g. February 30th)";
  }
  return null;
}

export function validatePolicy(f: PolicyForm, timezones?: readonly string[]): PolicyErrors {
  const errors: PolicyErrors = {};
  if (f.frequency === "cron") {
    const problem = f.cron.trim() ? cronProblem(f.cron) : "is required for a cron schedule";
    if (problem) errors["schedule.cron"] = problem;
  } else if (!HHMM.test(f.time)) {
    errors["schedule.time"] = "must be a time of day as HH:MM";
  }
  if (f.frequency === "weekly" && f.weekdays.length === 0) errors["schedule.weekdays"] = "choose at least one weekday";
  if (!f.timezone || (timezones && timezones.length > 0 && !timezones.includes(f.timezone))) {
    errors["schedule.timezone"] = "is not a known time zone";
  }
  const timeout = Number(f.timeoutS);
  if (!/^\d+$/.test(f.timeoutS) || timeout < 1 || timeout > 3600) errors["verify.timeout_s"] = "whole seconds from 1 to 3600";
  const settle = Number(f.settleS);
  if (!/^\d+$/.test(f.settleS) || settle > 600) errors["verify.settle_s"] = "whole seconds from 0 to 600";
  if (f.windowEnabled) {
    if (!HHMM.test(f.windowStart)) errors["maintenance_window.start"] = "must be HH:MM";
    if (!HHMM.test(f.windowEnd)) errors["maintenance_window.end"] = "must be HH:MM";
  }
  return errors;
}

/** The server's 422 `details.errors` as form errors (paths without the `body.` prefix). */
export function serverErrors(details: Record<string, unknown> | null | undefined): PolicyErrors {
  const list = (details?.errors ?? []) as { path?: string; message?: string }[];
  const out: PolicyErrors = {};
  for (const e of list) {
    if (!e.path) continue;
    out[e.path.replace(/^body\./, "")] = e.message ?? "invalid";
  }
  return out;
}

/** Every IANA time zone the browser knows (UTC first). */
export function timeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf?.("timeZone") ?? [];
  return ["UTC", ...zones.filter((z) => z !== "UTC")];
}

/** `repo@sha256:0123…` or `sha256:…` → `sha256:0123456789ab`. */
export function shortDigest(value: string | null | undefined): string {
  if (!value) return "—";
  const digest = value.includes("@") ? value.split("@")[1]! : value;
  const [algo, hex] = digest.includes(":") ? digest.split(":") : ["sha256", digest];
  return `${algo}:${(hex ?? "").slice(0, 12)}`;
}
