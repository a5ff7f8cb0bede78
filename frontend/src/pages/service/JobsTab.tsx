import { ChevronRight, ListChecks } from "lucide-react";
import { usePollInterval } from "@/api/realtimeQueries";
import { useJobs } from "@/api/serviceQueries";
import type { ServiceDetail } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { jobActor, jobDuration, JobStatusBadge } from "@/components/jobs/JobBits";
import { RelativeTime } from "@/components/services/ServiceBits";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { openJob } from "@/lib/jobStore";
import { jobKindLabel } from "@/lib/serviceStatus";
import { useMediaQuery } from "@/lib/useMediaQuery";

export function JobsTab({ service }: { service: ServiceDetail }) {
  const poll = usePollInterval(3_000, 30_000);
  const jobs = useJobs({ service_id: service.id, limit: 100 }, poll);
  const wide = useMediaQuery("(min-width: 768px)");

  if (jobs.isPending) {
    return (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 4 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  }
  if (jobs.isError && !jobs.data) return <ErrorState error={jobs.error} title="Couldn't load jobs" onRetry={() => void jobs.refetch()} />;
  const items = jobs.data.items;
  if (items.length === 0) {
    return <EmptyState icon={ListChecks} title="No jobs yet" description="Deploys, restarts, pulls and updates of this service are listed here with their progress." />;
  }

  if (!wide) {
    return (
      <ul className="space-y-2" data-testid="jobs-table">
        {items.map((j) => (
          <li key={j.id}>
            <button
              type="button"
              className="flex w-full cursor-pointer items-center gap-3 rounded-lg border bg-card p-3 text-left shadow-xs active:bg-muted/50"
              onClick={() => openJob(j.id)}
              data-testid="job-row"
            >
              <div className="min-w-0 flex-1">
                <p className="font-medium">{jobKindLabel(j.kind)}</p>
                <p className="text-xs text-muted-foreground">
                  {jobActor(j)} · <RelativeTime iso={j.created_at} /> · {jobDuration(j)}
                </p>
              </div>
              <JobStatusBadge status={j.status} />
            </button>
          </li>
        ))}
      </ul>
    );
  }

  return (
    <Card className="overflow-hidden">
      <Table data-testid="jobs-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Job</TableHead>
            <TableHead>Status</TableHead>
            <TableHead>Started by</TableHead>
            <TableHead>Started</TableHead>
            <TableHead className="text-right">Duration</TableHead>
            <TableHead className="w-8">
              <span className="sr-only">Open</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {items.map((j) => (
            <TableRow
              key={j.id}
              className="cursor-pointer"
              onClick={() => openJob(j.id)}
              onKeyDown={(e) => {
                if (e.key === "Enter" || e.key === " ") {
                  e.preventDefault();
                  openJob(j.id);
                }
              }}
              tabIndex={0}
              data-testid="job-row"
              data-job={j.id}
            >
              <TableCell>
                <span className="font-medium">{jobKindLabel(j.kind)}</span>
                {typeof j.params?.revision === "number" && <span className="ml-1.5 font-mono text-xs text-muted-foreground">r{j.params.revision}</span>}
                {j.error && (
                  <p className="max-w-md truncate text-xs text-red-700 dark:text-red-400" title={j.error}>
                    {j.error}
                  </p>
                )}
              </TableCell>
              <TableCell>
                <JobStatusBadge status={j.status} />
              </TableCell>
              <TableCell className="text-muted-foreground">{jobActor(j)}</TableCell>
              <TableCell className="text-muted-foreground">
                <RelativeTime iso={j.started_at ?? j.created_at} />
              </TableCell>
              <TableCell className="text-right tabular-nums text-muted-foreground">{jobDuration(j)}</TableCell>
              <TableCell className="text-muted-foreground">
                <ChevronRight className="size-4" />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Card>
  );
}
