/** MCP server registry and usage analytics: endpoints and their queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type McpServerOut = Schemas["McpServerOut"];
export type McpServerCreate = Schemas["McpServerCreate"];
export type McpServerPatch = Schemas["McpServerPatch"];
export type McpCheckOut = Schemas["McpCheckOut"];
export type McpToolOut = Schemas["McpToolOut"];
export type McpToolChangeOut = Schemas["McpToolChangeOut"];
export type OverviewOut = Schemas["OverviewOut"];
export type CostOut = Schemas["CostOut"];
export type ToolsOut = Schemas["ToolsOut"];
export type UsersOut = Schemas["UsersOut"];
export type AnalyticsView = "overview" | "cost" | "performance" | "errors" | "tools" | "users";

export interface AnalyticsRange {
  since: string;
  until: string;
  mcp_server_id?: number;
}

export const mcpKeys = {
  all: ["mcp-servers"] as const,
  list: () => ["mcp-servers", "list"] as const,
  item: (id: number) => ["mcp-servers", "item", id] as const,
  tools: (id: number) => ["mcp-servers", "item", id, "tools"] as const,
  changes: (id: number) => ["mcp-servers", "item", id, "changes"] as const,
  history: (id: number) => ["mcp-servers", "item", id, "history"] as const,
  analytics: (view: AnalyticsView, r: AnalyticsRange) => ["analytics", view, r.since, r.until, r.mcp_server_id ?? null] as const,
};

const sid = (server_id: number) => ({ path: { server_id } });

export const mcpApi = {
  list: (signal?: AbortSignal) => call(api.GET("/api/v1/mcp-servers", { signal })),
  get: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/mcp-servers/{server_id}", { params: sid(id), signal })),
  create: (body: McpServerCreate) => call(api.POST("/api/v1/mcp-servers", { body })),
  update: (id: number, body: McpServerPatch) => call(api.PATCH("/api/v1/mcp-servers/{server_id}", { params: sid(id), body })),
  remove: (id: number) => call(api.DELETE("/api/v1/mcp-servers/{server_id}", { params: sid(id) })),
  check: (id: number) => call(api.POST("/api/v1/mcp-servers/{server_id}/check", { params: sid(id) })),
  tools: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/mcp-servers/{server_id}/tools", { params: sid(id), signal })),
  changes: (id: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/mcp-servers/{server_id}/tool-changes", { params: sid(id), signal })),
  history: (id: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/mcp-servers/{server_id}/history", { params: { path: { server_id: id }, query: { limit: 200 } }, signal })),
  // The analytics routes also answer CSV (`format=csv`), so their typed body is widened: narrow it.
  overview: (q: AnalyticsRange, signal?: AbortSignal) =>
    call(api.GET("/api/v1/analytics/overview", { params: { query: q }, signal })) as Promise<OverviewOut>,
  cost: (q: AnalyticsRange, signal?: AbortSignal) => call(api.GET("/api/v1/analytics/cost", { params: { query: q }, signal })) as Promise<CostOut>,
  tools_: (q: AnalyticsRange, signal?: AbortSignal) => call(api.GET("/api/v1/analytics/tools", { params: { query: q }, signal })) as Promise<ToolsOut>,
  users: (q: AnalyticsRange, signal?: AbortSignal) => call(api.GET("/api/v1/analytics/users", { params: { query: q }, signal })) as Promise<UsersOut>,
};

export function analyticsCsvUrl(view: AnalyticsView, r: AnalyticsRange): string {
  const q = new URLSearchParams({ since: r.since, until: r.until, format: "csv" });
  if (r.mcp_server_id) q.set("mcp_server_id", String(r.mcp_server_id));
  return `/api/v1/analytics/${view}?${q.toString()}`;
}

export function useMcpServers() {
  return useQuery({ queryKey: mcpKeys.list(), queryFn: ({ signal }) => mcpApi.list(signal), refetchInterval: 15_000 });
}

export function useMcpServer(id: number) {
  return useQuery({ queryKey: mcpKeys.item(id), queryFn: ({ signal }) => mcpApi.get(id, signal), enabled: id > 0, refetchInterval: 15_000 });
}

export function useMcpTools(id: number) {
  return useQuery({ queryKey: mcpKeys.tools(id), queryFn: ({ signal }) => mcpApi.tools(id, signal), enabled: id > 0 });
}

export function useMcpToolChanges(id: number) {
  return useQuery({ queryKey: mcpKeys.changes(id), queryFn: ({ signal }) => mcpApi.changes(id, signal), enabled: id > 0 });
}

export function useMcpHistory(id: number) {
  return useQuery({ queryKey: mcpKeys.history(id), queryFn: ({ signal }) => mcpApi.history(id, signal), enabled: id > 0, refetchInterval: 15_000 });
}

export function useOverview(r: AnalyticsRange) {
  return useQuery({ queryKey: mcpKeys.analytics("overview", r), queryFn: ({ signal }) => mcpApi.overview(r, signal) });
}

export function useCost(r: AnalyticsRange) {
  return useQuery({ queryKey: mcpKeys.analytics("cost", r), queryFn: ({ signal }) => mcpApi.cost(r, signal) });
}

export function useTopTools(r: AnalyticsRange) {
  return useQuery({ queryKey: mcpKeys.analytics("tools", r), queryFn: ({ signal }) => mcpApi.tools_(r, signal) });
}

export function useUserActivity(r: AnalyticsRange) {
  return useQuery({ queryKey: mcpKeys.analytics("users", r), queryFn: ({ signal }) => mcpApi.users(r, signal) });
}

/** The last `days` days up to the end of the current hour, as ISO strings. */
export function lastDays(days: number, now: number = Date.now()): { since: string; until: string } {
  const end = new Date(now);
  end.setUTCMinutes(0, 0, 0);
  end.setUTCHours(end.getUTCHours() + 1);
  const start = new Date(end.getTime() - days * 86_400_000);
  return { since: start.toISOString(), until: end.toISOString() };
}

export function formatCost(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v >= 100 ? `$${v.toFixed(0)}` : v >= 1 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`;
}
