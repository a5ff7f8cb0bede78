import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { isApiError } from "./errors";
import { adoptionApi, jobsApi, servicesApi, type JobListQuery } from "./services";

/**
 * Query keys. Everything about one service lives under `["services", "item", id]` so a
 * realtime event can refresh a service without touching its (expensive) logs.
 */
export const serviceKeys = {
  all: ["services"] as const,
  lists: () => ["services", "list"] as const,
  list: (search: string) => ["services", "list", { search }] as const,
  item: (id: number) => ["services", "item", id] as const,
  detail: (id: number) => ["services", "item", id, "detail"] as const,
  compose: (id: number, revision: number | null) => ["services", "item", id, "compose", revision] as const,
  revisions: (id: number) => ["services", "item", id, "revisions"] as const,
  revision: (id: number, n: number) => ["services", "item", id, "revisions", n] as const,
  diff: (id: number, from: number, to: number) => ["services", "item", id, "revisions", "diff", from, to] as const,
  logs: (id: number, tail: number, container: string) => ["services", "logs", id, tail, container] as const,
};

export const jobKeys = {
  all: ["jobs"] as const,
  lists: () => ["jobs", "list"] as const,
  list: (q: JobListQuery) => ["jobs", "list", q] as const,
  detail: (id: string) => ["jobs", "item", id] as const,
};

export const adoptionKeys = {
  all: ["unmanaged"] as const,
  unmanaged: (nodeId: number) => ["unmanaged", nodeId] as const,
};

const notFoundQuiet = { toast: (err: unknown) => !(isApiError(err) && err.status === 404) };

export function useServices(search: string, refetchInterval: number | false) {
  return useQuery({
    queryKey: serviceKeys.list(search),
    queryFn: ({ signal }) => servicesApi.list({ search: search || undefined, limit: 500 }, signal),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
}

export function useService(id: number, refetchInterval: number | false) {
  return useQuery({
    queryKey: serviceKeys.detail(id),
    queryFn: ({ signal }) => servicesApi.get(id, signal),
    enabled: Number.isInteger(id) && id > 0,
    refetchInterval,
    meta: notFoundQuiet,
  });
}

export function useCompose(id: number, revision: number | null, enabled = true) {
  return useQuery({
    queryKey: serviceKeys.compose(id, revision),
    queryFn: ({ signal }) => servicesApi.compose(id, revision ?? undefined, signal),
    enabled: enabled && id > 0,
    staleTime: revision === null ? 0 : Infinity, // a numbered revision never changes
  });
}

export function useRevisions(id: number, refetchInterval: number | false = false) {
  return useQuery({
    queryKey: serviceKeys.revisions(id),
    queryFn: ({ signal }) => servicesApi.revisions(id, signal),
    enabled: id > 0,
    refetchInterval,
  });
}

export function useRevision(id: number, n: number | null) {
  return useQuery({
    queryKey: serviceKeys.revision(id, n ?? 0),
    queryFn: ({ signal }) => servicesApi.revision(id, n!, signal),
    enabled: id > 0 && n !== null,
    staleTime: Infinity,
  });
}

export function useRevisionDiff(id: number, from: number | null, to: number | null) {
  return useQuery({
    queryKey: serviceKeys.diff(id, from ?? 0, to ?? 0),
    queryFn: ({ signal }) => servicesApi.diff(id, from!, to!, signal),
    enabled: id > 0 && from !== null && to !== null && from !== to,
    staleTime: Infinity,
  });
}

export function useJobs(q: JobListQuery, refetchInterval: number | false, enabled = true) {
  return useQuery({
    queryKey: jobKeys.list(q),
    queryFn: ({ signal }) => jobsApi.list(q, signal),
    refetchInterval,
    enabled,
    placeholderData: keepPreviousData,
  });
}

export function useJob(id: string | null, refetchInterval: number | false | ((running: boolean) => number | false)) {
  return useQuery({
    queryKey: jobKeys.detail(id ?? ""),
    queryFn: ({ signal }) => jobsApi.get(id!, signal),
    enabled: !!id,
    refetchInterval: (q) => {
      const running = q.state.data ? q.state.data.status === "queued" || q.state.data.status === "running" : true;
      if (typeof refetchInterval === "function") return refetchInterval(running);
      return running ? refetchInterval : false;
    },
    meta: notFoundQuiet,
  });
}

/** What runs on a node without Dockyard (refreshed on focus and every 30 s). */
export function useUnmanaged(nodeId: number | null) {
  return useQuery({
    queryKey: adoptionKeys.unmanaged(nodeId ?? 0),
    queryFn: ({ signal }) => adoptionApi.unmanaged(nodeId!, signal),
    enabled: nodeId !== null && nodeId > 0,
    refetchInterval: 30_000,
    staleTime: 5_000,
  });
}
