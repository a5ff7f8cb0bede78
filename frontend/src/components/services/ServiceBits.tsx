import { GitCompareArrows, Loader2 } from "lucide-react";
import type { JobOut, PortOut } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { Tip } from "@/components/ui/tooltip";
import { formatDateTime, formatRelative, formatUtc } from "@/lib/format";
import { portLabel, portUrl, uniquePorts } from "@/lib/ports";
import { jobKindLabel, statusView } from "@/lib/serviceStatus";
import { cn } from "@/lib/utils";

export function ServiceStatusPill({ status, className }: { status: string; className?: string }) {
  const v = statusView(status);
  const pill = (
    <Badge
      tone={v.tone === "outline" ? "neutral" : v.tone}
      className={cn(v.tone === "outline" && "border-dashed border-muted-foreground/50 bg-transparent", className)}
      data-testid="service-status"
      data-status={status}
    >
      <span aria-hidden className={cn("size-1.5 rounded-full", v.dot, status === "restarting" && "animate-pulse")} />
      {v.label}
    </Badge>
  );
  return v.description ? <Tip content={v.description}>{pill}</Tip> : pill;
}

export function DriftBadge({ reasons }: { reasons: readonly string[] }) {
  const content = (
    <div className="space-y-1">
      <p className="font-medium">Drift: what runs differs from what is saved</p>
      <ul className="list-disc space-y-0.5 pl-4">
        {reasons.map((r) => (
          <li key={r}>{r}</li>
        ))}
      </ul>
    </div>
  );
  return (
    <Tip content={reasons.length ? content : "What runs differs from what is saved"}>
      <Badge tone="warning" data-testid="drift-badge" tabIndex={0} className="cursor-help outline-none focus-visible:ring-2 focus-visible:ring-ring">
        <GitCompareArrows className="size-3" /> Drift
      </Badge>
    </Tip>
  );
}

/** Published ports as links (TCP) or plain labels (UDP/SCTP). */
export function PortLinks({ ports, max = 4, className }: { ports: readonly PortOut[]; max?: number; className?: string }) {
  const list = uniquePorts(ports.filter((p) => p.host_port));
  if (list.length === 0) return <span className="text-muted-foreground">—</span>;
  const shown = list.slice(0, max);
  const rest = list.length - shown.length;
  const host = typeof window !== "undefined" ? window.location.hostname : "localhost";
  return (
    <span className={cn("flex flex-wrap items-center gap-1", className)}>
      {shown.map((p) => {
        const url = portUrl(p, host);
        const label = portLabel(p);
        return url ? (
          <a
            key={label}
            href={url}
            target="_blank"
            rel="noopener noreferrer"
            className="rounded-md border bg-muted/60 px-1.5 py-0.5 font-mono text-[11.5px] leading-4 text-primary hover:border-primary/40 hover:underline"
            title={`Open ${url}`}
            onClick={(e) => e.stopPropagation()}
          >
            {label}
          </a>
        ) : (
          <span key={label} className="rounded-md border bg-muted/60 px-1.5 py-0.5 font-mono text-[11.5px] leading-4 text-muted-foreground">
            {label}
          </span>
        );
      })}
      {rest > 0 && (
        <Tip content={list.slice(max).map(portLabel).join(", ")}>
          <span className="text-xs text-muted-foreground" tabIndex={0}>+{rest}</span>
        </Tip>
      )}
    </span>
  );
}

export function ActiveJobSpinner({ job }: { job: JobOut }) {
  const text = `${jobKindLabel(job.kind)} ${job.status === "queued" ? "queued" : "in progress"}`;
  return (
    <Tip content={text}>
      <span className="inline-flex items-center gap-1 text-xs text-primary" role="status" aria-label={text} data-testid="active-job">
        <Loader2 className="size-3.5 animate-spin" />
        <span className="hidden xl:inline">{jobKindLabel(job.kind)}…</span>
      </span>
    </Tip>
  );
}

export function RelativeTime({ iso, className }: { iso: string | null | undefined; className?: string }) {
  if (!iso) return <span className={cn("text-muted-foreground", className)}>—</span>;
  return (
    <time dateTime={iso} title={`${formatDateTime(iso)} (${formatUtc(iso)})`} className={cn("whitespace-nowrap tabular-nums", className)}>
      {formatRelative(iso)}
    </time>
  );
}

export function ImageList({ images, className }: { images: readonly string[]; className?: string }) {
  if (images.length === 0) return <span className="text-muted-foreground">—</span>;
  return (
    <span className={cn("flex min-w-0 flex-col gap-0.5", className)}>
      {images.slice(0, 2).map((img) => (
        <span key={img} className="block max-w-[11rem] truncate font-mono text-[12px]" title={img}>
          {img}
        </span>
      ))}
      {images.length > 2 && <span className="text-xs text-muted-foreground">+{images.length - 2} more</span>}
    </span>
  );
}
