/**
 * Node management (agents, enrollment, credentials): endpoints and their queries.
 * The list and detail share `queryKeys.nodes` / `queryKeys.node(id)` with `useNodes`/`useNode`
 * in queries.ts, so a change here refreshes every page that shows nodes.
 */
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call } from "./client";
import { isApiError } from "./errors";
import { queryKeys } from "./queries";
import { usePollInterval, useRealtimeEvents } from "./realtimeQueries";
import type { components } from "./schema";
import { servicesApi } from "./services";

type Schemas = components["schemas"];
export type NodeView = Schemas["NodeOut"];
export type NodeAgentInfo = Schemas["AgentOut"];
export type NodeCreate = Schemas["NodeCreate"];
export type NodePatch = Schemas["NodePatch"];
export type NodeCreated = Schemas["NodeCreated"];
export type RotateResult = Schemas["RotateOut"];
export type EnrollmentOut = Schemas["EnrollmentOut"];

/** What the UI needs to show an enrollment: the one-time token and how to use it. */
export interface Enrollment {
  enrollment_token: string;
  enrollment_expires_at?: string | null;
  agent_command?: string | null;
}

const nid = (node_id: number) => ({ path: { node_id } });

export const nodesApi = {
  create: (body: NodeCreate) => call(api.POST("/api/v1/nodes", { body })),
  update: (id: number, body: NodePatch) => call(api.PATCH("/api/v1/nodes/{node_id}", { params: nid(id), body })),
  /** `forgetServices`: for an offline node whose host is gone, its services go too. */
  remove: (id: number, forgetServices = false) =>
    call(
      api.DELETE("/api/v1/nodes/{node_id}", {
        params: { ...nid(id), query: { forget_services: forgetServices } },
      }),
    ),
  rotateCredentials: (id: number) => call(api.POST("/api/v1/nodes/{node_id}/rotate-credentials", { params: nid(id) })),
  revoke: (id: number) => call(api.POST("/api/v1/nodes/{node_id}/revoke", { params: nid(id) })),
  enrollmentToken: (id: number) => call(api.POST("/api/v1/nodes/{node_id}/enrollment-token", { params: nid(id) })),
};

export const nodeServiceKeys = {
  /** Under serviceKeys.lists() so service events refresh it too. */
  list: (nodeId: number) => ["services", "list", { node_id: nodeId }] as const,
};

/** Refetch node queries on `node.*` realtime events (status changes, agent connect/disconnect). */
function useNodeEvents() {
  const queryClient = useQueryClient();
  useRealtimeEvents(
    (e) => {
      if (e.type.startsWith("node.")) void queryClient.invalidateQueries({ queryKey: queryKeys.nodes });
    },
    [queryClient],
  );
}

/** All nodes, kept fresh: realtime node events plus a short poll for "last seen". */
export function useNodeList() {
  useNodeEvents();
  const interval = usePollInterval(5_000, 10_000);
  return useQuery({
    queryKey: queryKeys.nodes,
    queryFn: ({ signal }) => call(api.GET("/api/v1/nodes", { signal, params: { query: { limit: 200 } } })),
    refetchInterval: interval,
  });
}

/** One node, kept fresh like the list. A 404 is shown inline, not as a toast. */
export function useNodeDetail(id: number) {
  useNodeEvents();
  const interval = usePollInterval(5_000, 10_000);
  return useQuery({
    queryKey: queryKeys.node(id),
    queryFn: ({ signal }) => call(api.GET("/api/v1/nodes/{node_id}", { signal, params: nid(id) })),
    enabled: Number.isInteger(id) && id > 0,
    refetchInterval: interval,
    meta: { toast: (err: unknown) => !(isApiError(err) && err.status === 404) },
  });
}

/** The services placed on a node (the services list filters by `node_id` on the server). */
export function useNodeServices(nodeId: number, enabled = true) {
  const interval = usePollInterval(10_000, 60_000);
  return useQuery({
    queryKey: nodeServiceKeys.list(nodeId),
    queryFn: ({ signal }) => servicesApi.list({ node_id: nodeId, limit: 500 }, signal),
    enabled: enabled && Number.isInteger(nodeId) && nodeId > 0,
    placeholderData: keepPreviousData,
    refetchInterval: interval,
  });
}
