/** Health checks: endpoints and their queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type HealthCheckOut = Schemas["HealthCheckOut"];
export type HealthCheckDetail = Schemas["HealthCheckDetail"];
export type HealthCheckCreate = Schemas["HealthCheckCreate"];
export type HealthCheckPatch = Schemas["HealthCheckPatch"];
export type CheckResultOut = Schemas["CheckResultOut"];
export type RunResult = Schemas["RunResult"];
export type CheckKind = HealthCheckCreate["kind"];

export const healthKeys = {
  all: ["health-checks"] as const,
  list: () => ["health-checks", "list"] as const,
  item: (id: number) => ["health-checks", "item", id] as const,
  history: (id: number, offset: number) => ["health-checks", "item", id, "history", offset] as const,
};

const cid = (check_id: number) => ({ path: { check_id } });

export const healthApi = {
  list: (signal?: AbortSignal) => call(api.GET("/api/v1/health-checks", { signal })),
  get: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/health-checks/{check_id}", { params: cid(id), signal })),
  create: (body: HealthCheckCreate) => call(api.POST("/api/v1/health-checks", { body })),
  update: (id: number, body: HealthCheckPatch) => call(api.PATCH("/api/v1/health-checks/{check_id}", { params: cid(id), body })),
  remove: (id: number) => call(api.DELETE("/api/v1/health-checks/{check_id}", { params: cid(id) })),
  run: (id: number) => call(api.POST("/api/v1/health-checks/{check_id}/run", { params: cid(id) })),
  history: (id: number, offset: number, limit: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/health-checks/{check_id}/history", { params: { path: { check_id: id }, query: { offset, limit } }, signal })),
};

export function useHealthChecks() {
  return useQuery({ queryKey: healthKeys.list(), queryFn: ({ signal }) => healthApi.list(signal), refetchInterval: 10_000 });
}

export function useHealthCheck(id: number) {
  return useQuery({ queryKey: healthKeys.item(id), queryFn: ({ signal }) => healthApi.get(id, signal), enabled: id > 0, refetchInterval: 10_000 });
}

export function useHealthHistory(id: number, offset: number, limit = 20) {
  return useQuery({
    queryKey: healthKeys.history(id, offset),
    queryFn: ({ signal }) => healthApi.history(id, offset, limit, signal),
    enabled: id > 0,
    refetchInterval: 10_000,
  });
}

/** `99.95 %`, or a dash without results in the window. */
export function formatUptime(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `${value >= 99.995 ? "100" : value.toFixed(2)} %`;
}

/** A one-line description of what a check probes. */
export function describeTarget(check: Pick<HealthCheckOut, "kind" | "target">): string {
  const t = check.target as Record<string, unknown>;
  switch (check.kind) {
    case "http":
      return `${String(t.method ?? "GET")} ${String(t.url ?? "")}`;
    case "tcp":
      return `${String(t.host ?? "")}:${String(t.port ?? "")}`;
    case "docker":
      return t.service_id != null ? `service #${String(t.service_id)}` : `container ${String(t.container ?? "")}`;
    case "mcp":
      return `MCP server #${String(t.mcp_server_id ?? "")}`;
    default:
      return "";
  }
}
