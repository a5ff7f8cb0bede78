/** Clusters, node port ranges and allocations, placement preview: endpoints and queries. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "@/api/client";
import type { components } from "@/api/schema";

type Schemas = components["schemas"];
export type ClusterOut = Schemas["ClusterOut"];
export type ClusterCreate = Schemas["ClusterCreate"];
export type ClusterUpdate = Schemas["ClusterUpdate"];
export type PortRangesOut = Schemas["PortRangesOut"];
export type PortAllocationOut = Schemas["PortAllocationOut"];
export type PlacementExplanation = Schemas["PlacementExplanation"];
export type PlacementPreviewRequest = Schemas["PlacementPreviewRequest"];

export const placementKeys = {
  all: ["placement"] as const,
  clusters: () => ["placement", "clusters"] as const,
  ranges: (nodeId: number) => ["placement", "ranges", nodeId] as const,
  allocations: (nodeId: number) => ["placement", "allocations", nodeId] as const,
};

const cid = (cluster_id: number) => ({ path: { cluster_id } });
const nid = (node_id: number) => ({ path: { node_id } });

export const placementApi = {
  clusters: (signal?: AbortSignal) => call(api.GET("/api/v1/clusters", { signal })),
  createCluster: (body: ClusterCreate) => call(api.POST("/api/v1/clusters", { body })),
  updateCluster: (id: number, body: ClusterUpdate) => call(api.PUT("/api/v1/clusters/{cluster_id}", { params: cid(id), body })),
  removeCluster: (id: number) => call(api.DELETE("/api/v1/clusters/{cluster_id}", { params: cid(id) })),
  ranges: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/nodes/{node_id}/port-ranges", { params: nid(id), signal })),
  setRanges: (id: number, ranges: { start: number; end: number }[]) =>
    call(api.PUT("/api/v1/nodes/{node_id}/port-ranges", { params: nid(id), body: { ranges } })),
  allocations: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/nodes/{node_id}/port-allocations", { params: nid(id), signal })),
  preview: (body: PlacementPreviewRequest) => call(api.POST("/api/v1/placement/preview", { body })),
};

export function useClusters(enabled = true) {
  return useQuery({
    queryKey: placementKeys.clusters(),
    queryFn: ({ signal }) => placementApi.clusters(signal),
    enabled,
  });
}

export function usePortRanges(nodeId: number | null) {
  return useQuery({
    queryKey: placementKeys.ranges(nodeId ?? 0),
    queryFn: ({ signal }) => placementApi.ranges(nodeId ?? 0, signal),
    enabled: nodeId !== null,
  });
}

export function usePortAllocations(nodeId: number | null) {
  return useQuery({
    queryKey: placementKeys.allocations(nodeId ?? 0),
    queryFn: ({ signal }) => placementApi.allocations(nodeId ?? 0, signal),
    enabled: nodeId !== null,
  });
}
