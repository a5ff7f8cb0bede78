/** Quotas: usage against limits, and the editor's form <-> `PUT /users/{id}/quota` body. */
import type { components } from "@/api/schema";
import { formatBytes } from "./format";

type Schemas = components["schemas"];
export type QuotaOut = Schemas["QuotaOut"];
export type QuotaUpdate = Schemas["QuotaUpdate"];
export type QuotaValues = Schemas["QuotaValues"];

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

export interface UsageRow {
  key: "services" | "containers" | "cpus" | "memory" | "gpus";
  label: string;
  used: number;
  limit: number | null;
  /** "2 of 10", "1.5 of 4", "512 MiB of 8 GiB", "3 (no limit)". */
  text: string;
  /** 0..100 of the limit (100 when a limit of 0 is reached or passed); null without a limit. */
  percent: number | null;
  /** At or over the limit: nothing more of this fits. */
  full: boolean;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(2)));
}

/** One row per total the quota limits, in the order the server checks them. */
export function usageRows(quota: QuotaOut): UsageRow[] {
  const rows: Array<[UsageRow["key"], string, number, number | null, (n: number) => string]> = [
    ["services", "Services", quota.usage.services, quota.max_services ?? null, num],
    ["containers", "Containers", quota.usage.containers, quota.max_containers ?? null, num],
    ["cpus", "CPUs", quota.usage.cpus, quota.max_cpus ?? null, num],
    ["memory", "Memory", quota.usage.memory_bytes, quota.max_memory_bytes ?? null, (n) => formatBytes(n)],
    ["gpus", "GPUs", quota.usage.gpus, quota.max_gpus ?? null, num],
  ];
  return rows.map(([key, label, used, limit, fmt]) => {
    // The server counts "all of the host's GPUs" as a huge number.
    const usedText = key === "gpus" && used >= 1_000_000 ? "all" : fmt(used);
    if (limit === null) return { key, label, used, limit, text: `${usedText} (no limit)`, percent: null, full: false };
    const percent = limit > 0 ? Math.min(100, (used / limit) * 100) : used > 0 ? 100 : 0;
    return { key, label, used, limit, text: `${usedText} of ${fmt(limit)}`, percent, full: used >= limit - 1e-9 };
  });
}

/** The editor: one text box per value; empty means "use the default". */
export interface QuotaForm {
  max_services: string;
  max_containers: string;
  max_cpus: string;
  /** GiB. */
  max_memory_gib: string;
  max_gpus: string;
  default_cpus: string;
  /** MiB. */
  default_memory_mib: string;
  default_pids: string;
}

export const QUOTA_FIELDS: Array<{ key: keyof QuotaForm; label: string; unit?: string; step: string }> = [
  { key: "max_services", label: "Max services", step: "1" },
  { key: "max_containers", label: "Max containers", step: "1" },
  { key: "max_cpus", label: "Max CPUs", step: "0.1" },
  { key: "max_memory_gib", label: "Max memory", unit: "GiB", step: "0.25" },
  { key: "max_gpus", label: "Max GPUs", step: "1" },
  { key: "default_cpus", label: "Default CPUs per container", step: "0.1" },
  { key: "default_memory_mib", label: "Default memory per container", unit: "MiB", step: "1" },
  { key: "default_pids", label: "Default PIDs per container", step: "1" },
];

const show = (n: number | null | undefined, factor = 1): string => (n == null ? "" : String(Number((n / factor).toFixed(3))));

/** The user's own values (not the defaults) as the editor's text. */
export function formFromOwn(own: QuotaValues): QuotaForm {
  return {
    max_services: show(own.max_services),
    max_containers: show(own.max_containers),
    max_cpus: show(own.max_cpus),
    max_memory_gib: show(own.max_memory_bytes, GIB),
    max_gpus: show(own.max_gpus),
    default_cpus: show(own.default_cpus),
    default_memory_mib: show(own.default_memory, MIB),
    default_pids: show(own.default_pids),
  };
}

/** What the default of each field reads as (placeholders): "default: 10", "default: no limit". */
export function defaultsText(defaults: QuotaValues): Record<keyof QuotaForm, string> {
  const or = (v: string) => `default: ${v === "" ? "no limit" : v}`;
  const own = formFromOwn(defaults);
  return Object.fromEntries(Object.entries(own).map(([k, v]) => [k, or(v)])) as Record<keyof QuotaForm, string>;
}

export type QuotaFormErrors = Partial<Record<keyof QuotaForm, string>>;

/** The `PUT` body, or the problems by field. Empty fields are null (the default applies). */
export function quotaUpdateFromForm(form: QuotaForm): { body: QuotaUpdate; errors: QuotaFormErrors } {
  const errors: QuotaFormErrors = {};
  const read = (key: keyof QuotaForm, opts: { integer: boolean; min: number; factor?: number; minText?: string }): number | null => {
    const raw = form[key].trim();
    if (raw === "") return null;
    const value = Number(raw);
    if (!Number.isFinite(value)) {
      errors[key] = "Enter a number, or leave it empty for the default.";
      return null;
    }
    if (opts.integer && !Number.isInteger(value)) {
      errors[key] = "Enter a whole number.";
      return null;
    }
    if (value < opts.min) {
      errors[key] = opts.minText ?? `At least ${opts.min}.`;
      return null;
    }
    return opts.factor ? Math.round(value * opts.factor) : value;
  };
  const body: QuotaUpdate = {
    max_services: read("max_services", { integer: true, min: 0 }),
    max_containers: read("max_containers", { integer: true, min: 0 }),
    max_cpus: read("max_cpus", { integer: false, min: 0 }),
    max_memory_bytes: read("max_memory_gib", { integer: false, min: 0, factor: GIB }),
    max_gpus: read("max_gpus", { integer: true, min: 0 }),
    default_cpus: read("default_cpus", { integer: false, min: 0.01, minText: "More than 0." }),
    default_memory: read("default_memory_mib", { integer: false, min: 4, factor: MIB, minText: "At least 4 MiB." }),
    default_pids: read("default_pids", { integer: true, min: 1 }),
  };
  return { body, errors };
}
