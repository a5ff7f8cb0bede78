import type { AuditEvent } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { formatDateTime, formatRelative, formatUtc } from "@/lib/format";
import { OutcomePill } from "./Pills";

/** Shown after the actor when it is not a person: "(system)". Empty when redundant. */
export function actorKind(e: Pick<AuditEvent, "actor_type" | "actor_label" | "actor_id">): string {
  return e.actor_type !== "user" && (e.actor_label || e.actor_id) ? e.actor_type : "";
}

export function actorText(e: Pick<AuditEvent, "actor_type" | "actor_label" | "actor_id">): string {
  if (e.actor_label) return e.actor_label;
  if (e.actor_id) return `${e.actor_type}:${e.actor_id}`;
  return e.actor_type;
}

export function targetText(e: Pick<AuditEvent, "target_type" | "target_id">): string {
  if (!e.target_type && !e.target_id) return "—";
  if (e.target_type && e.target_id) return `${e.target_type}:${e.target_id}`;
  return e.target_type ?? e.target_id ?? "—";
}

/** Compact list of audit events (dashboard "Recent activity"). */
export function AuditMiniList({ events }: { events: AuditEvent[] }) {
  return (
    <ul className="divide-y">
      {events.map((e) => (
        <li key={e.id} className="flex items-center gap-3 px-5 py-2.5" data-testid="recent-activity-item">
          <div className="min-w-0 flex-1">
            <div className="flex flex-wrap items-center gap-2">
              <Badge tone="mono">{e.action}</Badge>
              <OutcomePill outcome={e.outcome} />
            </div>
            <p className="mt-1 truncate text-xs text-muted-foreground">
              {actorText(e)}
              {targetText(e) !== "—" && <> → {targetText(e)}</>}
              {e.ip && <> · {e.ip}</>}
            </p>
          </div>
          <time
            dateTime={e.ts}
            title={`${formatDateTime(e.ts)} (${formatUtc(e.ts)})`}
            className="shrink-0 text-xs whitespace-nowrap text-muted-foreground tabular-nums"
          >
            {formatRelative(e.ts)}
          </time>
        </li>
      ))}
    </ul>
  );
}
