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

export const userKeys = {
  all: ["users"] as const,
  list: (search: string) => ["users", "list", search] as const,
  sessions: (id: number) => ["users", id, "sessions"] as const,
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

export function useRoles(enabled = true) {
  return useQuery({ queryKey: roleKeys.list(), queryFn: ({ signal }) => rolesApi.list(signal), enabled });
}

export function usePermissionCatalog() {
  return useQuery({ queryKey: roleKeys.catalog(), queryFn: ({ signal }) => rolesApi.catalog(signal), staleTime: Infinity });
}
