import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import type { AuditFilters } from "@/lib/auditFilters";
import { filtersToQuery } from "@/lib/auditFilters";
import { api, call } from "./client";
import { isApiError } from "./errors";
import type { AuditPage } from "./types";

export const queryKeys = {
  me: ["auth", "me"] as const,
  systemInfo: ["system", "info"] as const,
  nodes: ["nodes"] as const,
  node: (id: number) => ["nodes", id] as const,
  recentAudit: ["audit", "recent"] as const,
  audit: (filters: AuditFilters) => ["audit", "list", filters] as const,
};

export function useMe(enabled = true) {
  return useQuery({
    queryKey: queryKeys.me,
    queryFn: ({ signal }) => call(api.GET("/api/v1/auth/me", { signal })),
    enabled,
    staleTime: 5 * 60_000,
  });
}

/** The server replicas (scale-out); one row for a single `dockyard serve`. */
export function useSystemReplicas() {
  return useQuery({
    queryKey: ["system", "replicas"] as const,
    queryFn: ({ signal }) => call(api.GET("/api/v1/system/replicas", { signal })),
    refetchInterval: 15_000,
  });
}

export function useSystemInfo() {
  return useQuery({
    queryKey: queryKeys.systemInfo,
    queryFn: ({ signal }) => call(api.GET("/api/v1/system/info", { signal })),
    staleTime: 5 * 60_000,
  });
}

export function useNodes() {
  return useQuery({
    queryKey: queryKeys.nodes,
    queryFn: ({ signal }) => call(api.GET("/api/v1/nodes", { signal, params: { query: { limit: 200 } } })),
    refetchInterval: 30_000,
  });
}

export function useNode(id: number) {
  return useQuery({
    queryKey: queryKeys.node(id),
    queryFn: ({ signal }) => call(api.GET("/api/v1/nodes/{node_id}", { signal, params: { path: { node_id: id } } })),
    enabled: Number.isInteger(id) && id > 0,
    refetchInterval: 30_000,
    // A missing node is shown inline, not as a toast.
    meta: { toast: (err: unknown) => !(isApiError(err) && err.status === 404) },
  });
}

export function useRecentAudit(limit = 10) {
  return useQuery({
    queryKey: queryKeys.recentAudit,
    queryFn: ({ signal }) => call(api.GET("/api/v1/audit", { signal, params: { query: { limit } } })),
    refetchInterval: 60_000,
  });
}

export const AUDIT_PAGE_SIZE = 50;

export function useAuditEvents(filters: AuditFilters) {
  return useInfiniteQuery({
    queryKey: queryKeys.audit(filters),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) =>
      call(
        api.GET("/api/v1/audit", {
          signal,
          params: {
            query: {
              ...filtersToQuery(filters),
              limit: AUDIT_PAGE_SIZE,
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last: AuditPage) => last.next_cursor ?? undefined,
  });
}
