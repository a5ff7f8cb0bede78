/** Users, roles and grants: endpoints, query keys and queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type UserOut = Schemas["UserOut"];
export type UserCreate = Schemas["UserCreate"];
export type UserUpdate = Schemas["UserUpdate"];
export type UserSessionOut = Schemas["UserSessionOut"];
export type RoleOut = Schemas["RoleOut"];
export type RoleCreate = Schemas["RoleCreate"];
export type RoleUpdate = Schemas["RoleUpdate"];
export type PermissionGroup = Schemas["PermissionGroup"];
export type GrantOut = Schemas["GrantOut"];
export type GrantCreate = Schemas["GrantCreate"];
export type QuotaOut = Schemas["QuotaOut"];
export type QuotaUpdate = Schemas["QuotaUpdate"];

export const userKeys = {
  all: ["users"] as const,
  list: (search: string) => ["users", "list", search] as const,
  sessions: (id: number) => ["users", id, "sessions"] as const,
  grants: (id: number) => ["users", id, "grants"] as const,
  quota: (id: number) => ["users", id, "quota"] as const,
  myQuota: ["users", "me", "quota"] as const,
};

export const roleKeys = {
  all: ["roles"] as const,
  list: () => ["roles", "list"] as const,
  catalog: () => ["roles", "catalog"] as const,
};

const uid = (user_id: number) => ({ path: { user_id } });

export const usersApi = {
  list: (search: string, signal?: AbortSignal) =>
    call(api.GET("/api/v1/users", { params: { query: search ? { search, limit: 500 } : { limit: 500 } }, signal })),
  create: (body: UserCreate) => call(api.POST("/api/v1/users", { body })),
  update: (id: number, body: UserUpdate) => call(api.PATCH("/api/v1/users/{user_id}", { params: uid(id), body })),
  sessions: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/users/{user_id}/sessions", { params: uid(id), signal })),
  grants: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/users/{user_id}/grants", { params: uid(id), signal })),
  addGrant: (id: number, body: GrantCreate) => call(api.POST("/api/v1/users/{user_id}/grants", { params: uid(id), body })),
  removeGrant: (id: number, grantId: number) =>
    call(api.DELETE("/api/v1/users/{user_id}/grants/{grant_id}", { params: { path: { user_id: id, grant_id: grantId } } })),
  quota: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/users/{user_id}/quota", { params: uid(id), signal })),
  setQuota: (id: number, body: QuotaUpdate) => call(api.PUT("/api/v1/users/{user_id}/quota", { params: uid(id), body })),
  myQuota: (signal?: AbortSignal) => call(api.GET("/api/v1/users/me/quota", { signal })),
};

export const rolesApi = {
  list: (signal?: AbortSignal) => call(api.GET("/api/v1/roles", { signal })),
  catalog: (signal?: AbortSignal) => call(api.GET("/api/v1/roles/permissions", { signal })),
  create: (body: RoleCreate) => call(api.POST("/api/v1/roles", { body })),
  update: (name: string, body: RoleUpdate) => call(api.PATCH("/api/v1/roles/{name}", { params: { path: { name } }, body })),
  remove: (name: string) => call(api.DELETE("/api/v1/roles/{name}", { params: { path: { name } } })),
};

export function useUsers(search: string) {
  return useQuery({ queryKey: userKeys.list(search), queryFn: ({ signal }) => usersApi.list(search, signal) });
}

export function useUserSessions(id: number | null) {
  return useQuery({
    queryKey: userKeys.sessions(id ?? 0),
    queryFn: ({ signal }) => usersApi.sessions(id ?? 0, signal),
    enabled: id !== null,
  });
}

export function useUserGrants(id: number | null) {
  return useQuery({
    queryKey: userKeys.grants(id ?? 0),
    queryFn: ({ signal }) => usersApi.grants(id ?? 0, signal),
    enabled: id !== null,
  });
}

export function useUserQuota(id: number | null) {
  return useQuery({
    queryKey: userKeys.quota(id ?? 0),
    queryFn: ({ signal }) => usersApi.quota(id ?? 0, signal),
    enabled: id !== null,
  });
}

export function useMyQuota(enabled = true) {
  return useQuery({ queryKey: userKeys.myQuota, queryFn: ({ signal }) => usersApi.myQuota(signal), enabled });
}

export function useRoles(enabled = true) {
  return useQuery({ queryKey: roleKeys.list(), queryFn: ({ signal }) => rolesApi.list(signal), enabled });
}

export function usePermissionCatalog() {
  return useQuery({ queryKey: roleKeys.catalog(), queryFn: ({ signal }) => rolesApi.catalog(signal), staleTime: Infinity });
}
