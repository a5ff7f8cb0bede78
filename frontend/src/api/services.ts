/**
 * Service and job endpoints, through the typed client (`api`, openapi-fetch over the
 * generated `paths`): paths, parameters, bodies and answers are checked by `tsc`.
 */
import { api, call } from "./client";
import { parseApiError, toApiError } from "./errors";
import type { ActionRequest, AdoptRequest, JobStatus, ServiceAction, ServiceCreate, ServiceDetail, ServiceUpdate, ValidateRequest } from "./types";

interface ClientResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Like `call`, but also hands back the Response (for headers such as ETag). */
async function callWithResponse<T>(pending: Promise<ClientResult<T>>): Promise<{ data: T; response: Response }> {
  let result: ClientResult<T>;
  try {
    result = await pending;
  } catch (err) {
    throw toApiError(err);
  }
  if (!result.response.ok) throw parseApiError(result.response.status, result.error, result.response.headers);
  return { data: result.data as T, response: result.response };
}

/** An absolute URL of this origin with the given query (empty values left out). */
export function buildUrl(path: string, query?: Record<string, string | number | boolean | null | undefined>): string {
  const url = new URL(path, typeof window !== "undefined" ? window.location.origin : "http://localhost");
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === "") continue;
    url.searchParams.set(k, String(v));
  }
  return url.toString();
}

const path = (service_id: number) => ({ path: { service_id } });

export interface ServiceListQuery {
  search?: string;
  node_id?: number;
  limit?: number;
  offset?: number;
}

export interface LogsQuery {
  tail: number;
  container?: string;
  timestamps?: boolean;
}

export const servicesApi = {
  list: (query: ServiceListQuery = {}, signal?: AbortSignal) => call(api.GET("/api/v1/services", { params: { query }, signal })),

  /** The service and its ETag (`"rev-N"`). */
  get: async (id: number, signal?: AbortSignal): Promise<ServiceDetail & { etag: string | null }> => {
    const { data, response } = await callWithResponse(api.GET("/api/v1/services/{service_id}", { params: path(id), signal }));
    return { ...data, etag: response.headers.get("etag") };
  },

  create: (body: ServiceCreate) => call(api.POST("/api/v1/services", { body })),

  /**
   * Saves an edit made on top of `baseRevision` (sent as `If-Match: "rev-N"`); a stale
   * base is a 409 `revision_conflict`. Without a base the edit is applied unconditionally.
   */
  update: (id: number, body: ServiceUpdate, baseRevision?: number) =>
    call(
      api.PUT("/api/v1/services/{service_id}", {
        params: { ...path(id), header: baseRevision === undefined ? undefined : { "if-match": `"rev-${baseRevision}"` } },
        body,
      }),
    ),

  validate: (body: ValidateRequest, signal?: AbortSignal) => call(api.POST("/api/v1/services/validate", { body, signal })),

  action: (id: number, action: ServiceAction, body: ActionRequest = { remove_volumes: false }) =>
    call(api.POST("/api/v1/services/{service_id}/{action}", { params: { path: { service_id: id, action } }, body })),

  compose: (id: number, revision?: number, signal?: AbortSignal) =>
    call(
      api.GET("/api/v1/services/{service_id}/compose", {
        params: { ...path(id), query: revision === undefined ? {} : { revision } },
        parseAs: "text",
        headers: { Accept: "application/yaml, text/plain" },
        signal,
      }),
    ) as Promise<string>,

  composeUrl: (id: number, revision?: number) => buildUrl(`/api/v1/services/${id}/compose`, { revision }),

  logs: (id: number, q: LogsQuery, signal?: AbortSignal) =>
    call(
      api.GET("/api/v1/services/{service_id}/logs", {
        params: { ...path(id), query: { tail: q.tail, container: q.container || undefined, timestamps: q.timestamps ?? true } },
        signal,
      }),
    ),

  logsDownloadUrl: (id: number, q: LogsQuery) =>
    buildUrl(`/api/v1/services/${id}/logs`, { tail: q.tail, container: q.container, timestamps: q.timestamps ?? true, download: true }),

  revisions: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/services/{service_id}/revisions", { params: path(id), signal })),

  revision: (id: number, number: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/services/{service_id}/revisions/{number}", { params: { path: { service_id: id, number } }, signal })),

  diff: (id: number, from: number, to: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/services/{service_id}/revisions/diff", { params: { ...path(id), query: { from, to } }, signal })),

  restore: (id: number, number: number, comment = "") =>
    call(api.POST("/api/v1/services/{service_id}/revisions/{number}/restore", { params: { path: { service_id: id, number } }, body: { comment } })),
};

export interface JobListQuery {
  service_id?: number;
  status?: JobStatus;
  kind?: string;
  limit?: number;
  offset?: number;
}

export const jobsApi = {
  list: (query: JobListQuery = {}, signal?: AbortSignal) => call(api.GET("/api/v1/jobs", { params: { query }, signal })),
  get: (id: string, signal?: AbortSignal) => call(api.GET("/api/v1/jobs/{job_id}", { params: { path: { job_id: id } }, signal })),
};

export const adoptionApi = {
  /** Compose projects and loose containers on a node that Dockyard does not manage. */
  unmanaged: (nodeId: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/nodes/{node_id}/unmanaged", { params: { path: { node_id: nodeId } }, signal })),

  /** A new service from a project or containers, with the deploy job that takes them over. */
  adopt: (body: AdoptRequest) => call(api.POST("/api/v1/services/adopt", { body })),
};
