import { CheckCircle2, CircleDashed, Loader2, XCircle } from "lucide-react";
import type { JobOut } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { jobKindLabel } from "@/lib/serviceStatus";

export function JobStatusBadge({ status }: { status: JobOut["status"] }) {
  switch (status) {
    case "queued":
      return (
        <Badge tone="neutral" data-testid="job-status" data-status={status}>
          <CircleDashed className="size-3" /> Queued
        </Badge>
      );
    case "running":
      return (
        <Badge tone="accent" data-testid="job-status" data-status={status}>
          <Loader2 className="size-3 animate-spin" /> Running
        </Badge>
      );
    case "succeeded":
      return (
        <Badge tone="success" data-testid="job-status" data-status={status}>
          <CheckCircle2 className="size-3" /> Succeeded
        </Badge>
      );
    case "failed":
      return (
        <Badge tone="danger" data-testid="job-status" data-status={status}>
          <XCircle className="size-3" /> Failed
        </Badge>
      );
    default:
      return <Badge data-testid="job-status">{status}</Badge>;
  }
}

/** "1.2 s", "42 s", "3 min 4 s", "1 h 2 min" between start and finish (or now while running). */
export function jobDuration(job: Pick<JobOut, "started_at" | "finished_at">, now: number = Date.now()): string {
  if (!job.started_at) return "—";
  const start = new Date(job.started_at).getTime();
  const end = job.finished_at ? new Date(job.finished_at).getTime() : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return "—";
  const ms = Math.max(0, end - start);
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

export function jobActor(job: Pick<JobOut, "actor_type" | "actor_label" | "actor_id">): string {
  return job.actor_label ?? (job.actor_id ? `${job.actor_type}:${job.actor_id}` : job.actor_type);
}

export function jobTitle(job: Pick<JobOut, "kind" | "params">): string {
  const service = typeof job.params?.service === "string" ? job.params.service : null;
  const rev = typeof job.params?.revision === "number" ? ` r${job.params.revision}` : "";
  return `${jobKindLabel(job.kind)}${service ? ` ${service}` : ""}${rev}`;
}
