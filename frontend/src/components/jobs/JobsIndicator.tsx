import { ListChecks, Loader2 } from "lucide-react";
import { useState } from "react";
import { usePollInterval } from "@/api/realtimeQueries";
import { useJobs } from "@/api/serviceQueries";
import { RelativeTime } from "@/components/services/ServiceBits";
import { Button } from "@/components/ui/button";
import { Popover, PopoverContent, PopoverTrigger } from "@/components/ui/popover";
import { Skeleton } from "@/components/ui/skeleton";
import { openJob } from "@/lib/jobStore";
import { jobTitle, JobStatusBadge } from "./JobBits";

/** Top bar: how many jobs are running, and the recent ones in a popover. */
export function JobsIndicator() {
  const [open, setOpen] = useState(false);
  const poll = usePollInterval(5_000, 60_000);
  const jobs = useJobs({ limit: 10 }, open ? Math.min(poll || 5_000, 5_000) : poll);
  const active = (jobs.data?.items ?? []).filter((j) => j.status === "queued" || j.status === "running").length;
  // Quiet when the jobs API is not there.
  if (jobs.isError && !jobs.data) return null;

  return (
    <Popover open={open} onOpenChange={setOpen}>
      <PopoverTrigger asChild>
        <Button
          variant="ghost"
          size="icon"
          className="relative"
          aria-label={active ? `${active} job${active === 1 ? "" : "s"} running` : "Recent jobs"}
          title={active ? `${active} running` : "Recent jobs"}
          data-testid="jobs-indicator"
        >
          {active ? <Loader2 className="animate-spin text-primary" /> : <ListChecks />}
          {active > 0 && (
            <span className="absolute -top-0.5 -right-0.5 flex h-4 min-w-4 items-center justify-center rounded-full bg-primary px-1 text-[10px] leading-none font-semibold text-primary-foreground tabular-nums" data-testid="jobs-running-count">
              {active}
            </span>
          )}
        </Button>
      </PopoverTrigger>
      <PopoverContent className="p-0">
        <div className="flex items-center justify-between border-b px-4 py-2.5">
          <p className="text-sm font-semibold">Recent jobs</p>
          {active > 0 && <span className="text-xs text-muted-foreground">{active} running</span>}
        </div>
        {jobs.isPending ? (
          <div className="space-y-2 p-4">
            {Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}
          </div>
        ) : (jobs.data?.items.length ?? 0) === 0 ? (
          <p className="px-4 py-6 text-center text-sm text-muted-foreground">No jobs yet. Deploys, restarts and updates show up here.</p>
        ) : (
          <ul className="max-h-96 divide-y overflow-y-auto">
            {jobs.data!.items.map((j) => (
              <li key={j.id}>
                <button
                  type="button"
                  className="flex w-full cursor-pointer items-center gap-3 px-4 py-2.5 text-left outline-none hover:bg-muted/60 focus-visible:bg-muted/60"
                  onClick={() => {
                    setOpen(false);
                    openJob(j.id);
                  }}
                >
                  <div className="min-w-0 flex-1">
                    <p className="truncate text-sm font-medium">{jobTitle(j)}</p>
                    <p className="text-xs text-muted-foreground">
                      <RelativeTime iso={j.created_at} />
                    </p>
                  </div>
                  <JobStatusBadge status={j.status} />
                </button>
              </li>
            ))}
          </ul>
        )}
      </PopoverContent>
    </Popover>
  );
}
