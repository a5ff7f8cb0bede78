/** Host inventory and host artifacts: endpoints and their queries. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import { errorFromResponse, toApiError } from "./errors";
import type { components } from "./schema";
import { session } from "./session";

type Schemas = components["schemas"];
export type HostOut = Schemas["HostOut"];
export type HostList = Schemas["HostList"];
export type HostCreate = Schemas["HostCreate"];
export type HostPatch = Schemas["HostPatch"];
export type HostFacets = Schemas["HostFacets"];
export type ImportResult = Schemas["ImportResult"];
export type ImportRowError = Schemas["ImportRowError"];
export type ArtifactOut = Schemas["ArtifactOut"];
export type SshTemplateOut = Schemas["SshTemplateOut"];

export interface HostFilters {
  q: string;
  environment: string;
  tag: string;
  offset: number;
  limit: number;
}

export const hostKeys = {
  all: ["hosts"] as const,
  list: (f: HostFilters) => ["hosts", "list", f] as const,
  facets: () => ["hosts", "facets"] as const,
  item: (id: number) => ["hosts", "item", id] as const,
  artifacts: (id: number) => ["hosts", "item", id, "artifacts"] as const,
  sshTemplate: () => ["hosts", "ssh-template"] as const,
};

const hid = (host_id: number) => ({ path: { host_id } });

function listQuery(f: HostFilters) {
  return {
    ...(f.q ? { q: f.q } : {}),
    ...(f.environment ? { environment: f.environment } : {}),
    ...(f.tag ? { tag: f.tag } : {}),
    limit: f.limit,
    offset: f.offset,
  };
}

export const hostsApi = {
  list: (f: HostFilters, signal?: AbortSignal) => call(api.GET("/api/v1/hosts", { params: { query: listQuery(f) }, signal })),
  facets: (signal?: AbortSignal) => call(api.GET("/api/v1/hosts/facets", { signal })),
  get: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/hosts/{host_id}", { params: hid(id), signal })),
  create: (body: HostCreate) => call(api.POST("/api/v1/hosts", { body })),
  update: (id: number, body: HostPatch) => call(api.PATCH("/api/v1/hosts/{host_id}", { params: hid(id), body })),
  remove: (id: number) => call(api.DELETE("/api/v1/hosts/{host_id}", { params: hid(id) })),
  bulkTag: (ids: number[], add: string[], remove: string[]) => call(api.POST("/api/v1/hosts/bulk-tag", { body: { ids, add, remove } })),
  sshCommand: (id: number) => call(api.GET("/api/v1/hosts/{host_id}/ssh-command", { params: hid(id) })),
  sshTemplate: (signal?: AbortSignal) => call(api.GET("/api/v1/hosts/ssh-template", { signal })),
  saveSshTemplate: (template: string) => call(api.PUT("/api/v1/hosts/ssh-template", { body: { template } })),
  artifacts: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/hosts/{host_id}/artifacts", { params: hid(id), signal })),
  removeArtifact: (id: number) => call(api.DELETE("/api/v1/artifacts/{artifact_id}", { params: { path: { artifact_id: id } } })),

  /** Sends the CSV file as the raw `text/csv` body (streamed by the browser). */
  importCsv: async (file: Blob, dryRun: boolean): Promise<ImportResult> => {
    const url = new URL(`/api/v1/hosts/import?dry_run=${dryRun ? "true" : "false"}`, window.location.origin);
    let response: Response;
    try {
      response = await session.fetch(new Request(url, { method: "POST", body: file, headers: { "Content-Type": "text/csv", Accept: "application/json" } }));
    } catch (err) {
      throw toApiError(err);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return (await response.json()) as ImportResult;
  },
};

/**
 * Uploads a file as multipart `file` with progress (fetch has no upload progress, so XHR).
 * Refreshes the access token once and retries if the first attempt gets a 401.
 */
export async function uploadArtifact(hostId: number, file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<ArtifactOut> {
  const attempt = (token: string | null) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/api/v1/hosts/${hostId}/artifacts`);
      if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
      xhr.onerror = () => reject(new TypeError("Network error"));
      xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      const form = new FormData();
      form.append("file", file, file.name);
      xhr.send(form);
    });
  let result;
  try {
    result = await attempt(session.getAccessToken());
    if (result.status === 401 && (await session.refresh()) === "refreshed") {
      result = await attempt(session.getAccessToken());
    }
  } catch (err) {
    throw toApiError(err);
  }
  const response = new Response(result.body, { status: result.status, headers: { "Content-Type": "application/json" } });
  if (!response.ok) throw await errorFromResponse(response);
  return (await response.json()) as ArtifactOut;
}

export function useHosts(filters: HostFilters) {
  return useQuery({ queryKey: hostKeys.list(filters), queryFn: ({ signal }) => hostsApi.list(filters, signal), placeholderData: keepPreviousData });
}

export function useHostFacets() {
  return useQuery({ queryKey: hostKeys.facets(), queryFn: ({ signal }) => hostsApi.facets(signal) });
}

export function useHostArtifacts(id: number | null) {
  return useQuery({
    queryKey: hostKeys.artifacts(id ?? 0),
    queryFn: ({ signal }) => hostsApi.artifacts(id ?? 0, signal),
    enabled: id !== null,
  });
}

export function useSshTemplate() {
  return useQuery({ queryKey: hostKeys.sshTemplate(), queryFn: ({ signal }) => hostsApi.sshTemplate(signal) });
}
