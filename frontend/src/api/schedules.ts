/** Schedules (read-only list, run now) and their query. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";
import { jobKeys } from "./serviceQueries";

export type ScheduleOut = components["schemas"]["ScheduleOut"];

/** Under the job lists' key, so job events (which invalidate job lists) refresh it too. */
export const scheduleKeys = {
  list: () => [...jobKeys.lists(), "schedules"] as const,
};

export const schedulesApi = {
  list: (signal?: AbortSignal) => call(api.GET("/api/v1/schedules", { signal })),
  run: (key: string) => call(api.POST("/api/v1/schedules/{key}/run", { params: { path: { key } } })),
};

export function useSchedules(enabled = true) {
  return useQuery({
    queryKey: scheduleKeys.list(),
    queryFn: ({ signal }) => schedulesApi.list(signal),
    refetchInterval: 60_000,
    enabled,
  });
}

/** "Daily 03:00 Europe/Berlin", "Mon, Fri 22:15 UTC", "cron 30 4 * * 1-5 UTC". */
export function describeSpec(spec: Record<string, unknown>): string {
  const tz = typeof spec.timezone === "string" ? spec.timezone : "UTC";
  const time = typeof spec.time === "string" ? spec.time : "";
  let text: string;
  if (spec.frequency === "cron") text = `cron ${String(spec.cron ?? "")}`;
  else if (spec.frequency === "weekly") {
    const days = Array.isArray(spec.weekdays) ? spec.weekdays.map((d) => String(d)) : [];
    text = `${days.map((d) => d.charAt(0).toUpperCase() + d.slice(1)).join(", ")} ${time}`;
  } else text = `Daily ${time}`;
  const window = spec.maintenance_window as { start?: string; end?: string } | null | undefined;
  const suffix = window?.start && window.end ? ` · window ${window.start}–${window.end}` : "";
  return `${text} ${tz}${suffix}`;
}
