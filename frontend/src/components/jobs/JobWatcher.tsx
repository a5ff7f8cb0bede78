import { useQueries, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { toast } from "sonner";
import { usePollInterval } from "@/api/realtimeQueries";
import { jobKeys, serviceKeys } from "@/api/serviceQueries";
import { jobsApi } from "@/api/services";
import type { ServiceAction } from "@/api/types";
import { jobStore, openJob, useWatchedJobs } from "@/lib/jobStore";
import { actionProgressive } from "@/lib/serviceStatus";

const PAST: Record<string, string> = {
  Deploy: "Deployed",
  Start: "Started",
  Stop: "Stopped",
  Restart: "Restarted",
  Pull: "Pulled images of",
  Update: "Updated",
  Delete: "Deleted",
};

/** Turns the "started" toast of each job this tab started into a "finished" one. */
export function JobWatcher() {
  const watched = useWatchedJobs();
  const queryClient = useQueryClient();
  const interval = usePollInterval(1_500, 15_000);
  const shown = useRef(new Map<string, string>());
  const results = useQueries({
    queries: watched.map((w) => ({
      queryKey: jobKeys.detail(w.id),
      queryFn: ({ signal }: { signal: AbortSignal }) => jobsApi.get(w.id, signal),
      refetchInterval: interval,
      meta: { toast: false },
    })),
  });

  useEffect(() => {
    results.forEach((r, i) => {
      const w = watched[i];
      const job = r.data;
      if (!w || !job) return;
      if (job.status === "queued" || job.status === "running") {
        const description = job.status === "queued" ? "Queued" : (job.lines.at(-1)?.message ?? "Running");
        if (shown.current.get(w.id) !== description) {
          shown.current.set(w.id, description);
          toast.loading(`${actionProgressive(w.verb.toLowerCase() as ServiceAction)} ${w.serviceName}…`, {
            id: `job-${w.id}`,
            description,
            action: { label: "Details", onClick: () => openJob(w.id) },
            duration: Infinity,
          });
        }
        return;
      }
      jobStore.unwatch(w.id);
      shown.current.delete(w.id);
      if (w.serviceId != null) {
        void queryClient.invalidateQueries({ queryKey: serviceKeys.item(w.serviceId) });
      }
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      void queryClient.invalidateQueries({ queryKey: jobKeys.lists() });
      if (job.status === "succeeded") {
        toast.success(`${PAST[w.verb] ?? w.verb} ${w.serviceName}`, {
          id: `job-${w.id}`,
          description: undefined,
          action: { label: "Details", onClick: () => openJob(w.id) },
          duration: 5_000,
        });
      } else {
        toast.error(`${w.verb} of ${w.serviceName} failed`, {
          id: `job-${w.id}`,
          description: job.error ?? "See the job for details.",
          action: { label: "Details", onClick: () => openJob(w.id) },
          duration: 15_000,
        });
      }
    });
  });

  return null;
}
