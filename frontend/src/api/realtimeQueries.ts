/**
 * Realtime events -> TanStack Query invalidations (coalesced), and the hooks the UI uses
 * to know whether it is live or must poll.
 */
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import { useEffect, useSyncExternalStore } from "react";
import { realtime, type RealtimeClient, type RealtimeEvent, type RealtimeStatus } from "./realtime";
import { serviceKeys, jobKeys } from "./serviceQueries";

/** "all": refetch everything (overflow / after a reconnect). */
export type Invalidation = QueryKey | "all";

function numberField(data: Record<string, unknown> | undefined, key: string): number | null {
  const v = data?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** Which queries an event makes stale. */
export function invalidationsFor(event: RealtimeEvent): Invalidation[] {
  const data = event.data;
  const serviceId = numberField(data, "service_id");
  switch (event.type) {
    case "overflow":
      return ["all"];
    case "service.status":
    case "container.state":
      return serviceId === null
        ? [serviceKeys.lists(), ["dashboard"]]
        : [serviceKeys.lists(), serviceKeys.detail(serviceId), serviceKeys.revisions(serviceId), ["dashboard"]];
    case "job.progress":
    case "job.finished": {
      const jobId = typeof data?.job_id === "string" ? data.job_id : null;
      const keys: Invalidation[] = [jobKeys.lists()];
      if (jobId) keys.push(jobKeys.detail(jobId));
      // A finished (or newly running) job changes the service's active job and status.
      const statusChange = event.type === "job.finished" || typeof data?.status === "string";
      if (event.type === "job.finished") keys.push(["dashboard"]);
      if (serviceId !== null && statusChange) {
        keys.push(serviceKeys.lists(), serviceKeys.detail(serviceId));
        if (event.type === "job.finished") keys.push(serviceKeys.revisions(serviceId));
      }
      return keys;
    }
    case "audit.created":
      return [["audit"], ["dashboard", "activity"]];
    default:
      // Alerts (fired, resolved, acknowledged, rules, channels, deliveries) and node status.
      if (event.type.startsWith("alert.")) return [["alerts"], ["dashboard"]];
      if (event.type.startsWith("node.")) return [["dashboard", "summary"]];
      return [];
  }
}

export interface Timers {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (h: unknown) => void;
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Collects invalidations and flushes them at most once per `windowMs`: a burst of 200
 * job.progress events becomes one refetch of each affected query.
 */
export function createCoalescer(flush: (keys: Invalidation[]) => void, windowMs = 250, timers: Timers = defaultTimers) {
  let pending = new Map<string, Invalidation>();
  let timer: unknown = null;
  const run = () => {
    timer = null;
    const batch = [...pending.values()];
    pending = new Map();
    if (batch.length) flush(batch.some((k) => k === "all") ? ["all"] : batch);
  };
  return {
    add(keys: Invalidation[]) {
      for (const k of keys) pending.set(k === "all" ? "all" : JSON.stringify(k), k);
      if (keys.length && timer === null) timer = timers.setTimeout(run, windowMs);
    },
    flushNow() {
      if (timer !== null) timers.clearTimeout(timer);
      run();
    },
    cancel() {
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      pending = new Map();
    },
  };
}

/** Turns the client's events into query invalidations. Returns the unsubscribe function. */
export function bindRealtimeToQueryClient(client: Pick<RealtimeClient, "subscribe">, queryClient: QueryClient, windowMs = 250): () => void {
  const coalescer = createCoalescer((keys) => {
    if (keys[0] === "all") {
      void queryClient.invalidateQueries();
      return;
    }
    for (const queryKey of keys) void queryClient.invalidateQueries({ queryKey: queryKey as QueryKey });
  }, windowMs);
  const unsubscribe = client.subscribe((e) => coalescer.add(invalidationsFor(e)));
  return () => {
    unsubscribe();
    coalescer.cancel();
  };
}

// ---------------------------------------------------------------- hooks

export function useRealtimeStatus(): RealtimeStatus {
  return useSyncExternalStore(realtime.subscribeStatus, realtime.getStatus, realtime.getStatus);
}

/**
 * A refetch interval for data that realtime events keep fresh: a slow safety net while
 * live, `fallbackMs` polling otherwise (no WebSocket, reconnecting).
 */
export function usePollInterval(fallbackMs = 5_000, liveMs: number | false = 60_000): number | false {
  return useRealtimeStatus() === "live" ? liveMs : fallbackMs;
}

/** Subscribes to raw events while mounted (e.g. job progress lines). */
export function useRealtimeEvents(fn: (e: RealtimeEvent) => void, deps: unknown[]): void {
  useEffect(() => realtime.subscribe(fn), deps); // eslint-disable-line react-hooks/exhaustive-deps
}
