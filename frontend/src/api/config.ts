/** Configuration as code: export, import (dry run), snapshots, diff and rollback. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import { errorFromResponse, toApiError } from "./errors";
import type { components } from "./schema";
import { session } from "./session";

type Schemas = components["schemas"];
export type ImportResult = Schemas["ConfigImportResult"];
export type ChangeOut = Schemas["ConfigChange"];
export type SnapshotOut = Schemas["ConfigSnapshotOut"];
export type SnapshotDiff = Schemas["ConfigSnapshotDiff"];

export const configKeys = {
  all: ["config"] as const,
  snapshots: () => ["config", "snapshots"] as const,
  diff: (from: number, to: number) => ["config", "diff", from, to] as const,
};

async function raw(url: URL, init?: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await session.fetch(new Request(url, init));
  } catch (err) {
    throw toApiError(err);
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

export const configApi = {
  /** Sends the YAML text as the raw `application/yaml` body. */
  importYaml: async (text: string, opts: { dryRun: boolean; prune: boolean }): Promise<ImportResult> => {
    const url = new URL("/api/v1/config/import", window.location.origin);
    url.searchParams.set("dry_run", String(opts.dryRun));
    url.searchParams.set("prune", String(opts.prune));
    const response = await raw(url, {
      method: "POST",
      body: text,
      headers: { "Content-Type": "application/yaml", Accept: "application/json" },
    });
    return (await response.json()) as ImportResult;
  },
  snapshots: (signal?: AbortSignal) => call(api.GET("/api/v1/config/snapshots", { params: { query: { limit: 100 } }, signal })),
  snapshotYaml: async (id: number): Promise<string> => {
    const response = await raw(new URL(`/api/v1/config/snapshots/${id}`, window.location.origin));
    return response.text();
  },
  diff: (from: number, to: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/config/snapshots/diff", { params: { query: { from, to } }, signal })),
  rollback: (snapshot_id: number) => call(api.POST("/api/v1/config/rollback", { body: { snapshot_id } })),
};

export function useSnapshots() {
  return useQuery({ queryKey: configKeys.snapshots(), queryFn: ({ signal }) => configApi.snapshots(signal) });
}

export function useSnapshotDiff(from: number | null, to: number | null) {
  return useQuery({
    queryKey: configKeys.diff(from ?? 0, to ?? 0),
    queryFn: ({ signal }) => configApi.diff(from ?? 0, to ?? 0, signal),
    enabled: from !== null && to !== null && from !== to,
  });
}
