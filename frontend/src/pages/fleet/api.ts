/** Fleet-wide views: the container table of every node, one container, log search. */
import { api, call } from "@/api/client";
import { errorFromResponse, toApiError } from "@/api/errors";
import type { components, paths } from "@/api/schema";
import { buildUrl } from "@/api/services";
import { session } from "@/api/session";
import { readNdjson } from "./ndjson";

type Schemas = components["schemas"];
export type FleetContainer = Schemas["FleetContainer"];
export type FleetContainerList = Schemas["FleetContainerList"];
export type FleetNode = Schemas["FleetNode"];
export type UnavailableNode = Schemas["UnavailableNode"];
export type ContainerDetail = Schemas["ContainerDetail"];
export type ContainerLogs = Schemas["ContainerLogs"];

/** One NDJSON line per match (the server's `LogSearchMatch`; NDJSON is not in OpenAPI). */
export interface LogSearchMatch {
  type: "match";
  ts: string | null;
  node_id: number;
  node_name: string;
  container_id: string;
  container: string;
  service_id: number | null;
  service_name: string | null;
  stream: "stdout" | "stderr" | string;
  line: string;
}

export interface LogSearchError {
  node_id: number;
  node_name: string;
  container: string | null;
  error: string;
}

/** The last NDJSON line (the server's `LogSearchSummary`). */
export interface LogSearchSummary {
  type: "summary";
  matches: number;
  containers_searched: number;
  containers_total: number;
  limit_reached: boolean;
  truncated: boolean;
  truncated_containers: string[];
  scanned_bytes: number;
  errors: LogSearchError[];
  since: string;
  until: string;
  elapsed_ms: number;
}
export type LogSearchItem = LogSearchMatch | LogSearchSummary;
export type FleetQuery = NonNullable<paths["/api/v1/containers"]["get"]["parameters"]["query"]>;
export type LogSearchQuery = NonNullable<paths["/api/v1/logs/search"]["get"]["parameters"]["query"]>;

const containerPath = (nodeId: number, containerId: string) => ({ path: { node_id: nodeId, container_id: containerId } });

export const fleetKeys = {
  containers: (q: FleetQuery) => ["fleet", "containers", q] as const,
  container: (nodeId: number, containerId: string) => ["fleet", "container", nodeId, containerId] as const,
  logs: (nodeId: number, containerId: string, tail: number) => ["fleet", "container-logs", nodeId, containerId, tail] as const,
};

export const fleetApi = {
  list: (query: FleetQuery, signal?: AbortSignal) => call(api.GET("/api/v1/containers", { params: { query }, signal })),
  detail: (nodeId: number, containerId: string, signal?: AbortSignal) =>
    call(api.GET("/api/v1/containers/{node_id}/{container_id}", { params: containerPath(nodeId, containerId), signal })),
  logs: (nodeId: number, containerId: string, tail: number, signal?: AbortSignal) =>
    call(
      api.GET("/api/v1/containers/{node_id}/{container_id}/logs", {
        params: { ...containerPath(nodeId, containerId), query: { tail } },
        signal,
      }),
    ),
};

/**
 * Runs a log search, handing over results as the server streams them. Resolves when the
 * stream ends; rejects with an ApiError when the server refuses (e.g. 422 for a bad
 * regex) or with the abort when `signal` fires.
 */
export async function searchLogs(query: LogSearchQuery, onItems: (items: LogSearchItem[]) => void, signal?: AbortSignal): Promise<void> {
  const url = buildUrl("/api/v1/logs/search", query as Record<string, string | number | boolean | null | undefined>);
  let response: Response;
  try {
    response = await session.fetch(new Request(url, { signal, headers: { Accept: "application/x-ndjson" } }));
  } catch (err) {
    if (signal?.aborted) throw err;
    throw toApiError(err);
  }
  if (!response.ok) throw await errorFromResponse(response);
  if (!response.body) return;
  await readNdjson<LogSearchItem>(response.body, onItems);
}
