/** Registry credentials and image update checks: endpoints and their queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";
import { serviceKeys } from "./serviceQueries";

type Schemas = components["schemas"];
export type RegistryOut = Schemas["RegistryOut"];
export type RegistryCreate = Schemas["RegistryCreate"];
export type RegistryPatch = Schemas["RegistryPatch"];
export type RegistryTestRequest = Schemas["RegistryTestRequest"];
export type RegistryTestResult = Schemas["RegistryTestResult"];
export type UpdateCheckResult = Schemas["UpdateCheckResult"];
export type ImageUpdateStatus = Schemas["ImageUpdateStatus"];

export const registryKeys = {
  all: ["registries"] as const,
  list: () => ["registries", "list"] as const,
};

export const updateCheckKeys = {
  service: (id: number) => [...serviceKeys.item(id), "update-check"] as const,
};

const rid = (registry_id: number) => ({ path: { registry_id } });

export const registriesApi = {
  list: (signal?: AbortSignal) => call(api.GET("/api/v1/registries", { signal })),
  create: (body: RegistryCreate) => call(api.POST("/api/v1/registries", { body })),
  update: (id: number, body: RegistryPatch) => call(api.PATCH("/api/v1/registries/{registry_id}", { params: rid(id), body })),
  remove: (id: number) => call(api.DELETE("/api/v1/registries/{registry_id}", { params: rid(id) })),
  test: (id: number) => call(api.POST("/api/v1/registries/{registry_id}/test", { params: rid(id) })),
  tryCredentials: (body: RegistryTestRequest) => call(api.POST("/api/v1/registries/test", { body })),
};

export const updateChecksApi = {
  check: (id: number) => call(api.POST("/api/v1/services/{service_id}/check-updates", { params: { path: { service_id: id } } })),
  last: (id: number, signal?: AbortSignal) =>
    call(api.GET("/api/v1/services/{service_id}/update-check", { params: { path: { service_id: id } }, signal })),
  checkAll: () => call(api.POST("/api/v1/updates/check", { body: {} })),
};

export function useRegistries() {
  return useQuery({ queryKey: registryKeys.list(), queryFn: ({ signal }) => registriesApi.list(signal) });
}

export function useLastUpdateCheck(id: number) {
  return useQuery({ queryKey: updateCheckKeys.service(id), queryFn: ({ signal }) => updateChecksApi.last(id, signal) });
}

/** `sha256:0123456789ab…` → `0123456789ab` (12 hex digits, like Docker's short ids). */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) return "—";
  const hex = digest.includes(":") ? digest.slice(digest.indexOf(":") + 1) : digest;
  return hex.slice(0, 12);
}
