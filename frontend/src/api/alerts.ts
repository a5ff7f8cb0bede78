/** Alerts (channels, rules, alert history) and the dashboard's data, with their queries. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

export type ChannelOut = components["schemas"]["ChannelOut"];
export type ChannelIn = components["schemas"]["ChannelIn"];
export type ChannelTestResult = components["schemas"]["ChannelTestResult"];
export type RuleOut = components["schemas"]["RuleOut"];
export type RuleIn = components["schemas"]["RuleIn"];
export type AlertOut = components["schemas"]["AlertOut"];
export type AlertDetail = components["schemas"]["AlertDetail"];
export type DashboardSummary = components["schemas"]["DashboardSummary"];
export type DashboardSeries = components["schemas"]["DashboardSeries"];
export type ActivityItem = components["schemas"]["ActivityItem"];
export type DashboardPrefs = components["schemas"]["DashboardPrefsIO"];
export type WidgetId = DashboardPrefs["widgets"][number]["id"];

export const alertKeys = {
  all: ["alerts"] as const,
  list: (status: string) => ["alerts", "list", status] as const,
  detail: (id: number) => ["alerts", "detail", id] as const,
  rules: () => ["alerts", "rules"] as const,
  channels: () => ["alerts", "channels"] as const,
};

export const dashboardKeys = {
  all: ["dashboard"] as const,
  summary: () => ["dashboard", "summary"] as const,
  series: () => ["dashboard", "series"] as const,
  activity: () => ["dashboard", "activity"] as const,
  prefs: () => ["dashboard-prefs"] as const,
};

export const alertsApi = {
  list: (status: "firing" | "resolved" | undefined, signal?: AbortSignal) =>
    call(api.GET("/api/v1/alerts", { params: { query: { status, limit: 200 } }, signal })),
  get: (id: number) => call(api.GET("/api/v1/alerts/{alert_id}", { params: { path: { alert_id: id } } })),
  ack: (id: number) => call(api.POST("/api/v1/alerts/{alert_id}/ack", { params: { path: { alert_id: id } } })),
  rules: (signal?: AbortSignal) => call(api.GET("/api/v1/alert-rules", { signal })),
  createRule: (body: RuleIn) => call(api.POST("/api/v1/alert-rules", { body })),
  updateRule: (id: number, body: RuleIn) =>
    call(api.PUT("/api/v1/alert-rules/{rule_id}", { params: { path: { rule_id: id } }, body })),
  deleteRule: (id: number) =>
    call(api.DELETE("/api/v1/alert-rules/{rule_id}", { params: { path: { rule_id: id } } })),
  channels: (signal?: AbortSignal) => call(api.GET("/api/v1/alert-channels", { signal })),
  createChannel: (body: ChannelIn) => call(api.POST("/api/v1/alert-channels", { body })),
  updateChannel: (id: number, body: ChannelIn) =>
    call(api.PUT("/api/v1/alert-channels/{channel_id}", { params: { path: { channel_id: id } }, body })),
  deleteChannel: (id: number) =>
    call(api.DELETE("/api/v1/alert-channels/{channel_id}", { params: { path: { channel_id: id } } })),
  testChannel: (id: number) =>
    call(api.POST("/api/v1/alert-channels/{channel_id}/test", { params: { path: { channel_id: id } } })),
};

export const dashboardApi = {
  summary: (signal?: AbortSignal) => call(api.GET("/api/v1/dashboard/summary", { signal })),
  series: (signal?: AbortSignal) => call(api.GET("/api/v1/dashboard/series", { signal })),
  activity: (signal?: AbortSignal) =>
    call(api.GET("/api/v1/dashboard/activity", { params: { query: { limit: 15 } }, signal })),
  prefs: (signal?: AbortSignal) => call(api.GET("/api/v1/dashboard/prefs", { signal })),
  savePrefs: (body: DashboardPrefs) => call(api.PUT("/api/v1/dashboard/prefs", { body })),
};

export function useAlerts(status: "firing" | "resolved" | undefined, enabled = true) {
  return useQuery({
    queryKey: alertKeys.list(status ?? "all"),
    queryFn: ({ signal }) => alertsApi.list(status, signal),
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
    enabled,
  });
}

export function useAlertRules(enabled = true) {
  return useQuery({ queryKey: alertKeys.rules(), queryFn: ({ signal }) => alertsApi.rules(signal), enabled });
}

export function useAlertChannels(enabled = true) {
  return useQuery({ queryKey: alertKeys.channels(), queryFn: ({ signal }) => alertsApi.channels(signal), enabled });
}

export function useDashboardSummary() {
  return useQuery({
    queryKey: dashboardKeys.summary(),
    queryFn: ({ signal }) => dashboardApi.summary(signal),
    refetchInterval: 30_000,
  });
}

export function useDashboardSeries() {
  return useQuery({
    queryKey: dashboardKeys.series(),
    queryFn: ({ signal }) => dashboardApi.series(signal),
    refetchInterval: 60_000,
  });
}

export function useDashboardActivity() {
  return useQuery({
    queryKey: dashboardKeys.activity(),
    queryFn: ({ signal }) => dashboardApi.activity(signal),
    refetchInterval: 30_000,
  });
}

export function useDashboardPrefs() {
  return useQuery({ queryKey: dashboardKeys.prefs(), queryFn: ({ signal }) => dashboardApi.prefs(signal) });
}

/** The condition kinds the rule editor offers, with their extra fields. */
export const CONDITION_KINDS: {
  kind: RuleIn["condition"]["kind"];
  label: string;
  fields: ("threshold_pct" | "include_unhealthy" | "job_kinds" | "threshold" | "period" | "window_s")[];
  scopes: ("all" | "node" | "service" | "mcp")[];
  note?: string;
}[] = [
  { kind: "service_down", label: "Service down or unhealthy", fields: ["include_unhealthy"], scopes: ["all", "node", "service"] },
  { kind: "health_check_failing", label: "Health check failing", fields: [], scopes: ["all", "node", "service", "mcp"] },
  { kind: "node_offline", label: "Node offline", fields: [], scopes: ["all", "node"] },
  { kind: "host_cpu", label: "Host CPU above", fields: ["threshold_pct"], scopes: ["all", "node"], note: "metrics" },
  { kind: "host_memory", label: "Host memory above", fields: ["threshold_pct"], scopes: ["all", "node"], note: "metrics" },
  { kind: "host_disk", label: "Host disk above", fields: ["threshold_pct"], scopes: ["all", "node"], note: "metrics" },
  { kind: "container_cpu", label: "Container CPU above", fields: ["threshold_pct"], scopes: ["all", "node", "service"], note: "metrics" },
  { kind: "container_memory", label: "Container memory above", fields: ["threshold_pct"], scopes: ["all", "node", "service"], note: "metrics" },
  { kind: "update_available", label: "Update available", fields: [], scopes: ["all", "node", "service"] },
  { kind: "update_rolled_back", label: "Update rolled back", fields: [], scopes: ["all", "node", "service"] },
  { kind: "job_failed", label: "Job failed", fields: ["job_kinds"], scopes: ["all", "node", "service"] },
  { kind: "usage_cost_over", label: "Usage cost over", fields: ["threshold", "period"], scopes: ["all", "mcp"] },
  { kind: "error_rate_over", label: "Error rate over", fields: ["threshold_pct", "window_s"], scopes: ["all", "mcp"] },
];

export function conditionLabel(condition: Record<string, unknown>): string {
  const spec = CONDITION_KINDS.find((k) => k.kind === condition.kind);
  const base = spec?.label ?? String(condition.kind);
  if (typeof condition.threshold_pct === "number") return `${base} ${condition.threshold_pct}%`;
  if (typeof condition.threshold === "number") return `${base} ${condition.threshold} / ${String(condition.period ?? "day")}`;
  return base;
}
