/** Metrics series endpoints and their polling queries. */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, call } from "@/api/client";
import type { components } from "@/api/schema";
import { pollIntervalMs, type MetricsRange } from "./format";

type Schemas = components["schemas"];
export type NodeMetricsOut = Schemas["NodeMetrics"];
export type ServiceMetricsOut = Schemas["ServiceMetrics"];
export type ContainerMetricsOut = Schemas["ContainerMetrics"];
export type FleetMetricsOut = Schemas["FleetMetrics"];

export const metricsKeys = {
  all: ["metrics"] as const,
  node: (id: number, range: MetricsRange) => ["metrics", "node", id, range] as const,
  service: (id: number, range: MetricsRange) => ["metrics", "service", id, range] as const,
  container: (node: number, id: string, range: MetricsRange) => ["metrics", "container", node, id, range] as const,
  fleet: (range: MetricsRange) => ["metrics", "fleet", range] as const,
};

export const metricsApi = {
  node: (node_id: number, range: MetricsRange, signal?: AbortSignal) =>
    call(api.GET("/api/v1/metrics/nodes/{node_id}", { params: { path: { node_id }, query: { range } }, signal })),
  service: (service_id: number, range: MetricsRange, signal?: AbortSignal) =>
    call(api.GET("/api/v1/metrics/services/{service_id}", { params: { path: { service_id }, query: { range } }, signal })),
  container: (node_id: number, container_id: string, range: MetricsRange, signal?: AbortSignal) =>
    call(
      api.GET("/api/v1/metrics/containers/{node_id}/{container_id}", {
        params: { path: { node_id, container_id }, query: { range } },
        signal,
      }),
    ),
  fleet: (range: MetricsRange, signal?: AbortSignal) =>
    call(api.GET("/api/v1/metrics/fleet", { params: { query: { range } }, signal })),
};

const common = (range: MetricsRange) => ({ refetchInterval: pollIntervalMs(range), placeholderData: keepPreviousData });

export function useNodeMetrics(nodeId: number, range: MetricsRange) {
  return useQuery({
    queryKey: metricsKeys.node(nodeId, range),
    queryFn: ({ signal }) => metricsApi.node(nodeId, range, signal),
    enabled: nodeId > 0,
    ...common(range),
  });
}

export function useServiceMetrics(serviceId: number, range: MetricsRange) {
  return useQuery({
    queryKey: metricsKeys.service(serviceId, range),
    queryFn: ({ signal }) => metricsApi.service(serviceId, range, signal),
    enabled: serviceId > 0,
    ...common(range),
  });
}

export function useContainerMetrics(nodeId: number, containerId: string, range: MetricsRange) {
  return useQuery({
    queryKey: metricsKeys.container(nodeId, containerId, range),
    queryFn: ({ signal }) => metricsApi.container(nodeId, containerId, range, signal),
    enabled: nodeId > 0 && containerId.length > 0,
    ...common(range),
  });
}

export function useFleetMetrics(range: MetricsRange, enabled = true) {
  return useQuery({
    queryKey: metricsKeys.fleet(range),
    queryFn: ({ signal }) => metricsApi.fleet(range, signal),
    enabled,
    ...common(range),
  });
}
