import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CalendarClock, Loader2, Play } from "lucide-react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { describeSpec, scheduleKeys, schedulesApi, useSchedules, type ScheduleOut } from "@/api/schedules";
import { RelativeTime } from "@/components/services/ServiceBits";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { openJob } from "@/lib/jobStore";
import { useCan } from "@/lib/permissions";

const STATUS_TONE: Record<string, "success" | "danger" | "accent" | "neutral"> = {
  succeeded: "success",
  failed: "danger",
  running: "accent",
  queued: "neutral",
};

function RunButton({ schedule }: { schedule: ScheduleOut }) {
  const queryClient = useQueryClient();
  const run = useMutation({
    mutationFn: () => schedulesApi.run(schedule.key),
    onSuccess: (body) => {
      toast.success(`Started ${schedule.job_kind}`, {
        action: { label: "Details", onClick: () => openJob(body.job.id) },
      });
      void queryClient.invalidateQueries({ queryKey: scheduleKeys.list() });
    },
    onError: (err) => toast.error(isApiError(err) ? err.message : "Could not start the run"),
  });
  return (
    <Button
      variant="outline"
      size="sm"
      disabled={run.isPending}
      onClick={() => run.mutate()}
      data-testid={`schedule-run-${schedule.key}`}
    >
      {run.isPending ? <Loader2 className="animate-spin" /> : <Play />} Run now
    </Button>
  );
}

/** Every schedule (service updates, node cleanups, ...) with its next and last run. */
export function SchedulesCard() {
  const canRead = useCan("jobs:read");
  const canRun = useCan("services:update");
  const schedules = useSchedules(canRead);
  if (!canRead) return null;
  return (
    <Card data-testid="schedules-card">
      <CardHeader className="border-b pb-3">
        <CardTitle className="flex items-center gap-2">
          <CalendarClock className="size-4 text-muted-foreground" /> Schedules
        </CardTitle>
        <CardDescription>Recurring jobs; each run is claimed once, whichever process fires it</CardDescription>
      </CardHeader>
      {schedules.isPending ? (
        <div className="space-y-3 px-5 py-4">
          {Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}
        </div>
      ) : schedules.isError ? (
        <p className="px-5 py-6 text-sm text-muted-foreground">Schedules could not be loaded.</p>
      ) : schedules.data.items.length === 0 ? (
        <p className="px-5 py-6 text-sm text-muted-foreground">
          No schedules yet. Update policies and cleanup policies create them.
        </p>
      ) : (
        <Table>
          <TableHeader>
            <TableRow>
              <TableHead>Schedule</TableHead>
              <TableHead>When</TableHead>
              <TableHead>Next run</TableHead>
              <TableHead>Last run</TableHead>
              {canRun && <TableHead className="text-right">Action</TableHead>}
            </TableRow>
          </TableHeader>
          <TableBody>
            {schedules.data.items.map((s) => (
              <TableRow key={s.key} data-testid={`schedule-row-${s.key}`}>
                <TableCell>
                  <div className="font-medium">{s.description || s.key}</div>
                  <div className="font-mono text-xs text-muted-foreground">{s.job_kind}</div>
                </TableCell>
                <TableCell className="text-sm">{describeSpec(s.spec)}</TableCell>
                <TableCell>
                  {s.enabled ? <RelativeTime iso={s.next_run_at} /> : <Badge>disabled</Badge>}
                </TableCell>
                <TableCell>
                  <span className="flex items-center gap-2">
                    <RelativeTime iso={s.last_run_at} />
                    {s.last_job_id && s.last_job_status && (
                      <button type="button" onClick={() => openJob(s.last_job_id)} className="cursor-pointer">
                        <Badge tone={STATUS_TONE[s.last_job_status] ?? "neutral"}>{s.last_job_status}</Badge>
                      </button>
                    )}
                  </span>
                </TableCell>
                {canRun && (
                  <TableCell className="text-right">
                    <RunButton schedule={s} />
                  </TableCell>
                )}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Card>
  );
}
