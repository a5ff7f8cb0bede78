/** Update history, rollback and update policy endpoints, and their queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";
import { serviceKeys } from "./serviceQueries";

type Schemas = components["schemas"];
export type UpdateOut = Schemas["UpdateOut"];
export type UpdateList = Schemas["UpdateList"];
export type UpdatePolicyIn = Schemas["UpdatePolicyIn"];
export type UpdatePolicyOut = Schemas["UpdatePolicyOut"];

/** One container's entry in `UpdateOut.containers`. */
export interface ContainerChange {
  container: string | null;
  image: string;
  changed: boolean;
  from: { image_id: string | null; digest: string | null };
  to: { image_id: string | null; digest: string | null };
  kept_image: string | null;
}

export const updateKeys = {
  history: (id: number) => [...serviceKeys.item(id), "updates"] as const,
  policy: (id: number) => [...serviceKeys.item(id), "update-policy"] as const,
};

const path = (service_id: number) => ({ path: { service_id } });

export const updatesApi = {
  history: (id: number, limit = 50, signal?: AbortSignal) =>
    call(api.GET("/api/v1/services/{service_id}/updates", { params: { ...path(id), query: { limit } }, signal })),
  rollback: (id: number, updateId?: number) =>
    call(api.POST("/api/v1/services/{service_id}/rollback", { params: path(id), body: updateId ? { update_id: updateId } : null })),
  policy: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/services/{service_id}/update-policy", { params: path(id), signal })),
  putPolicy: (id: number, body: UpdatePolicyIn) => call(api.PUT("/api/v1/services/{service_id}/update-policy", { params: path(id), body })),
  runNow: (id: number) => call(api.POST("/api/v1/services/{service_id}/update-policy/run", { params: path(id) })),
};

export function useUpdateHistory(id: number) {
  return useQuery({ queryKey: updateKeys.history(id), queryFn: ({ signal }) => updatesApi.history(id, 50, signal) });
}

export function useUpdatePolicy(id: number) {
  return useQuery({ queryKey: updateKeys.policy(id), queryFn: ({ signal }) => updatesApi.policy(id, signal) });
}

export function containerChanges(u: UpdateOut): [string, ContainerChange][] {
  return Object.entries(u.containers as Record<string, ContainerChange>);
}
