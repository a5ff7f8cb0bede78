import { AlertTriangle, ExternalLink } from "lucide-react";
import { useEffect, useRef } from "react";
import { Link } from "react-router";
import { isApiError } from "@/api/errors";
import { usePollInterval } from "@/api/realtimeQueries";
import { useJob } from "@/api/serviceQueries";
import { KeyValueGrid } from "@/components/KeyValue";
import { Sheet, SheetContent, SheetDescription, SheetHeader, SheetTitle } from "@/components/ui/sheet";
import { Skeleton } from "@/components/ui/skeleton";
import { formatDateTime, formatUtc } from "@/lib/format";
import { openJob, useOpenJobId } from "@/lib/jobStore";
import { cn } from "@/lib/utils";
import { jobActor, jobDuration, jobTitle, JobStatusBadge } from "./JobBits";

const LEVEL_CLASS: Record<string, string> = {
  error: "text-red-400",
  warning: "text-amber-300",
  warn: "text-amber-300",
  debug: "text-zinc-500",
};

function timeOf(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The detail of the job opened with `openJob(id)`: status, timings and progress lines, live. */
export function JobSheet() {
  const id = useOpenJobId();
  const interval = usePollInterval(1_000, 10_000);
  const job = useJob(id, interval);
  const linesRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const count = job.data?.lines.length ?? 0;

  useEffect(() => {
    const el = linesRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [count]);

  const j = job.data;
  return (
    <Sheet open={id !== null} onOpenChange={(o) => !o && openJob(null)}>
      <SheetContent data-testid="job-detail" aria-describedby={undefined}>
        <SheetHeader>
          <SheetTitle className="flex flex-wrap items-center gap-2">
            {j ? jobTitle(j) : "Job"}
            {j && <JobStatusBadge status={j.status} />}
          </SheetTitle>
          <SheetDescription className="font-mono">{id}</SheetDescription>
        </SheetHeader>
        <div className="flex min-h-0 flex-1 flex-col gap-4 overflow-y-auto px-5 py-4">
          {job.isPending ? (
            <div className="space-y-2">
              {Array.from({ length: 6 }, (_, i) => <Skeleton key={i} className="h-5 w-full" />)}
            </div>
          ) : job.isError && !j ? (
            <p className="text-sm text-muted-foreground">
              {isApiError(job.error) && job.error.status === 404 ? "This job does not exist (any more)." : job.error.message}
            </p>
          ) : j ? (
            <>
              {j.error && (
                <div role="alert" className="flex gap-2 rounded-md border border-red-200 bg-red-50 p-3 text-sm text-red-900 dark:border-red-900/70 dark:bg-red-950/40 dark:text-red-200">
                  <AlertTriangle className="mt-0.5 size-4 shrink-0" />
                  <p className="break-words whitespace-pre-wrap" data-testid="job-error">{j.error}</p>
                </div>
              )}
              <KeyValueGrid
                className="sm:grid-cols-2"
                items={[
                  { label: "Started by", value: jobActor(j) },
                  { label: "Duration", value: jobDuration(j) },
                  { label: "Queued", value: formatDateTime(j.created_at), title: formatUtc(j.created_at) },
                  { label: "Finished", value: formatDateTime(j.finished_at), title: formatUtc(j.finished_at) },
                ]}
              />
              {j.service_id != null && (
                <Link
                  to={`/services/${j.service_id}`}
                  onClick={() => openJob(null)}
                  className="inline-flex items-center gap-1 self-start text-sm text-primary hover:underline"
                >
                  Open the service <ExternalLink className="size-3.5" />
                </Link>
              )}
              <div className="flex min-h-0 flex-1 flex-col">
                <p className="mb-1.5 text-xs font-medium text-muted-foreground">Progress</p>
                <div
                  ref={linesRef}
                  onScroll={(e) => {
                    const el = e.currentTarget;
                    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
                  }}
                  className="min-h-40 flex-1 overflow-auto rounded-md border border-zinc-800 bg-zinc-950 p-3 font-mono text-[12px] leading-5 text-zinc-200"
                  data-testid="job-lines"
                  role="log"
                  aria-live="polite"
                >
                  {j.lines.length === 0 ? (
                    <p className="text-zinc-500">{j.status === "queued" ? "Waiting to start…" : "No progress yet."}</p>
                  ) : (
                    j.lines.map((l) => (
                      <div key={l.seq} className="flex gap-3 whitespace-pre-wrap" data-level={l.level}>
                        <span className="shrink-0 text-zinc-500 select-none">{timeOf(l.ts)}</span>
                        <span className={cn("min-w-0 break-words", LEVEL_CLASS[l.level])}>{l.message}</span>
                      </div>
                    ))
                  )}
                  {(j.status === "running" || j.status === "queued") && (
                    <div className="mt-1 flex items-center gap-2 text-zinc-500">
                      <span className="inline-block size-1.5 animate-pulse rounded-full bg-sky-400" /> working…
                    </div>
                  )}
                </div>
              </div>
            </>
          ) : null}
        </div>
      </SheetContent>
    </Sheet>
  );
}
