import { useEffect, useRef } from "react";
import { useJob } from "@/api/serviceQueries";
import type { JobDetail } from "@/api/types";
import { JobStatusBadge } from "@/components/jobs/JobBits";
import { cn } from "@/lib/utils";

const LEVEL_CLASS: Record<string, string> = { error: "text-red-400", warning: "text-amber-300" };

/** A job's status and progress lines, polled while it runs. */
export function JobProgress({ jobId, onDone }: { jobId: string; onDone?: (job: JobDetail) => void }) {
  const job = useJob(jobId, 700);
  const ref = useRef<HTMLDivElement>(null);
  const lines = job.data?.lines ?? [];
  const finished = job.data && (job.data.status === "succeeded" || job.data.status === "failed");
  const notified = useRef(false);

  useEffect(() => {
    if (ref.current) ref.current.scrollTop = ref.current.scrollHeight;
  }, [lines.length]);
  useEffect(() => {
    if (finished && job.data && !notified.current) {
      notified.current = true;
      onDone?.(job.data);
    }
  }, [finished, job.data, onDone]);

  return (
    <div className="space-y-2" data-testid="job-progress">
      <div className="flex items-center gap-2 text-sm">
        {job.data ? <JobStatusBadge status={job.data.status} /> : <span className="text-muted-foreground">Starting…</span>}
        {job.data?.error && <span className="text-red-600 dark:text-red-400">{job.data.error}</span>}
      </div>
      <div ref={ref} className="max-h-56 overflow-y-auto rounded-md bg-zinc-950 p-3 font-mono text-[12px] leading-5 text-zinc-200" data-testid="job-lines">
        {lines.length === 0 ? (
          <span className="text-zinc-500">Waiting for output…</span>
        ) : (
          lines.map((l) => (
            <div key={l.seq} className={cn("break-all whitespace-pre-wrap", LEVEL_CLASS[l.level])}>
              {l.message}
            </div>
          ))
        )}
      </div>
    </div>
  );
}
