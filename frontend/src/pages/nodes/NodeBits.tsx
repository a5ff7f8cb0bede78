import { Check, Copy } from "lucide-react";
import { useEffect, useState } from "react";
import { toast } from "sonner";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { formatDateTime, formatUtc } from "@/lib/format";
import { cn } from "@/lib/utils";
import { formatLastSeen, labelPills, nodeState, type NodeLike, type NodeState } from "./nodeFormat";

/** The current time, re-read every `intervalMs` so "12 s ago" keeps counting. */
export function useNow(intervalMs = 1_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const h = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(h);
  }, [intervalMs]);
  return now;
}

const STATE_VIEW: Record<NodeState, { label: string; tone: "success" | "danger" | "warning" | "neutral"; dot: string }> = {
  online: { label: "Online", tone: "success", dot: "bg-emerald-500" },
  offline: { label: "Offline", tone: "danger", dot: "bg-red-500" },
  pending: { label: "Waiting for agent", tone: "warning", dot: "bg-amber-500 animate-pulse" },
  revoked: { label: "Revoked", tone: "neutral", dot: "bg-muted-foreground" },
};

/** Status pill: online / offline / waiting for agent / revoked. */
export function NodeStatePill({ node, className }: { node: NodeLike; className?: string }) {
  const state = nodeState(node);
  const v = STATE_VIEW[state];
  return (
    <Badge tone={v.tone} className={className} data-testid="node-status" data-state={state}>
      <span aria-hidden className={cn("size-1.5 rounded-full", v.dot)} />
      {v.label}
    </Badge>
  );
}

/** "last seen 12 s ago", ticking; the exact time in the tooltip. */
export function LastSeen({ iso, now, prefix = "", className }: { iso: string | null | undefined; now: number; prefix?: string; className?: string }) {
  return (
    <time
      dateTime={iso ?? undefined}
      title={iso ? `${formatDateTime(iso)} (${formatUtc(iso)})` : "Never seen"}
      className={cn("whitespace-nowrap tabular-nums", className)}
      data-testid="node-last-seen"
    >
      {prefix}
      {formatLastSeen(iso, now)}
    </time>
  );
}

export function KindBadge({ kind }: { kind: "local" | "agent" }) {
  return (
    <Badge tone={kind === "local" ? "accent" : "neutral"} data-testid="node-kind">
      {kind === "local" ? "Local" : "Agent"}
    </Badge>
  );
}

/** Labels as small mono pills; "—" when none. */
export function LabelPills({ labels, max, className }: { labels: Record<string, unknown> | null | undefined; max?: number; className?: string }) {
  const pills = labelPills(labels);
  if (pills.length === 0) return <span className="text-muted-foreground">—</span>;
  const shown = max === undefined ? pills : pills.slice(0, max);
  const rest = pills.length - shown.length;
  return (
    <span className={cn("flex flex-wrap gap-1", className)} data-testid="node-labels">
      {shown.map((p) => (
        <Badge key={p} tone="mono" className="max-w-56 truncate" title={p}>
          {p}
        </Badge>
      ))}
      {rest > 0 && (
        <Badge tone="neutral" title={pills.slice(shown.length).join("\n")}>
          +{rest}
        </Badge>
      )}
    </span>
  );
}

export function CopyButton({ text, label = "Copy", testId, className }: { text: string; label?: string; testId?: string; className?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      toast.error("Copying failed: select the text and copy it by hand.");
    }
  };
  return (
    <Button type="button" variant="outline" size="sm" onClick={() => void copy()} data-testid={testId} className={className}>
      {copied ? <Check /> : <Copy />} {copied ? "Copied" : label}
    </Button>
  );
}

/** A selectable block of code/secret text that wraps anywhere (long tokens never overflow), with a copy button. */
export function CopyBlock({ text, label, copyLabel, testId, multiline = false }: { text: string; label: string; copyLabel?: string; testId: string; multiline?: boolean }) {
  return (
    <div className="space-y-1.5">
      <div className="flex items-center justify-between gap-2">
        <span className="text-xs font-medium text-foreground/90">{label}</span>
        <CopyButton text={text} label={copyLabel ?? "Copy"} testId={`${testId}-copy`} className="h-7 px-2" />
      </div>
      <pre
        className={cn(
          "max-h-64 overflow-y-auto rounded-md border bg-muted px-3 py-2 font-mono text-[12.5px] leading-relaxed select-all",
          multiline ? "whitespace-pre-wrap break-words" : "whitespace-pre-wrap break-all",
        )}
        data-testid={testId}
      >
        {text}
      </pre>
    </div>
  );
}
