/**
 * A node's images, volumes and networks, and its cleanup (typed client over `paths`).
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type ImageOut = Schemas["ImageOut"];
export type ImageList = Schemas["ImageList"];
export type VolumeOut = Schemas["VolumeOut"];
export type NetworkOut = Schemas["NetworkOut"];
export type CleanupRequest = Schemas["CleanupRequest"];
export type CleanupPlan = Schemas["CleanupPlanOut"];
export type CleanupItem = Schemas["CleanupItem"];
export type CleanupTarget = CleanupItem["target"];
/** The `result` of an `images.cleanup` job. */
export interface CleanupResult {
  plan_id: string;
  items: CleanupItem[];
  removed: number;
  skipped: number;
  failed: number;
  reclaimed_bytes: number;
}
export type JobAccepted = Schemas["JobAccepted"];
export type ContainerRef = Schemas["ContainerRef"];
export type CleanupPolicy = Schemas["CleanupPolicyOut"];
export type CleanupPolicyIn = Schemas["CleanupPolicyIn"];
export type ServiceRef = Schemas["ServiceRef"];

const node = (node_id: number) => ({ node_id });

export const imagesApi = {
  images: (nodeId: number, query: { search?: string; dangling?: boolean; in_use?: boolean }, signal?: AbortSignal) =>
    call(api.GET("/api/v1/nodes/{node_id}/images", { params: { path: node(nodeId), query }, signal })),
  pull: (nodeId: number, reference: string) =>
    call(api.POST("/api/v1/nodes/{node_id}/images/pull", { params: { path: node(nodeId) }, body: { reference } })),
  removeImage: (nodeId: number, ref: string, force: boolean) =>
    call(api.DELETE("/api/v1/nodes/{node_id}/images/{image_ref}", { params: { path: { node_id: nodeId, image_ref: ref }, query: { force } } })),
  volumes: (nodeId: number, query: { search?: string; with_sizes?: boolean }, signal?: AbortSignal) =>
    call(api.GET("/api/v1/nodes/{node_id}/volumes", { params: { path: node(nodeId), query }, signal })),
  createVolume: (nodeId: number, name: string) =>
    call(api.POST("/api/v1/nodes/{node_id}/volumes", { params: { path: node(nodeId) }, body: { name, driver: "local", driver_opts: {}, labels: {} } })),
  removeVolume: (nodeId: number, name: string) =>
    call(api.DELETE("/api/v1/nodes/{node_id}/volumes/{name}", { params: { path: { node_id: nodeId, name } } })),
  networks: (nodeId: number, query: { search?: string }, signal?: AbortSignal) =>
    call(api.GET("/api/v1/nodes/{node_id}/networks", { params: { path: node(nodeId), query }, signal })),
  createNetwork: (nodeId: number, body: { name: string; internal: boolean; subnet: string | null }) =>
    call(api.POST("/api/v1/nodes/{node_id}/networks", { params: { path: node(nodeId) }, body: { driver: "bridge", attachable: false, labels: {}, ...body } })),
  removeNetwork: (nodeId: number, ref: string) =>
    call(api.DELETE("/api/v1/nodes/{node_id}/networks/{network_ref}", { params: { path: { node_id: nodeId, network_ref: ref } } })),
  policy: (nodeId: number, signal?: AbortSignal) => call(api.GET("/api/v1/nodes/{node_id}/cleanup-policy", { params: { path: node(nodeId) }, signal })),
  savePolicy: (nodeId: number, body: CleanupPolicyIn) =>
    call(api.PUT("/api/v1/nodes/{node_id}/cleanup-policy", { params: { path: node(nodeId) }, body })),
  /** A dry run: the exact list and a plan id. */
  preview: (nodeId: number, body: { targets: CleanupTarget[]; include_managed: boolean }) =>
    call(api.POST("/api/v1/nodes/{node_id}/cleanup", { params: { path: node(nodeId) }, body: { dry_run: true, ...body } })) as Promise<CleanupPlan>,
  /** Executes a plan (202 with the job). */
  execute: (nodeId: number, planId: string) =>
    call(
      api.POST("/api/v1/nodes/{node_id}/cleanup", { params: { path: node(nodeId) }, body: { dry_run: false, plan_id: planId, include_managed: false } }),
    ) as unknown as Promise<JobAccepted>,
};

export const resourceKeys = {
  all: ["resources"] as const,
  images: (nodeId: number, search: string) => ["resources", nodeId, "images", search] as const,
  volumes: (nodeId: number, search: string, sizes: boolean) => ["resources", nodeId, "volumes", search, sizes] as const,
  networks: (nodeId: number, search: string) => ["resources", nodeId, "networks", search] as const,
  policy: (nodeId: number) => ["resources", nodeId, "cleanup-policy"] as const,
};

export function useCleanupPolicy(nodeId: number, enabled: boolean) {
  return useQuery({
    queryKey: resourceKeys.policy(nodeId),
    queryFn: ({ signal }) => imagesApi.policy(nodeId, signal),
    enabled,
  });
}

export function useImages(nodeId: number | null, search: string) {
  return useQuery({
    queryKey: resourceKeys.images(nodeId ?? 0, search),
    queryFn: ({ signal }) => imagesApi.images(nodeId!, { search: search || undefined }, signal),
    enabled: nodeId !== null,
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
}

export function useVolumes(nodeId: number | null, search: string, withSizes: boolean) {
  return useQuery({
    queryKey: resourceKeys.volumes(nodeId ?? 0, search, withSizes),
    queryFn: ({ signal }) => imagesApi.volumes(nodeId!, { search: search || undefined, with_sizes: withSizes || undefined }, signal),
    enabled: nodeId !== null,
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
}

export function useNetworks(nodeId: number | null, search: string) {
  return useQuery({
    queryKey: resourceKeys.networks(nodeId ?? 0, search),
    queryFn: ({ signal }) => imagesApi.networks(nodeId!, { search: search || undefined }, signal),
    enabled: nodeId !== null,
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
}
