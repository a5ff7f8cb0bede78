import type { AuditOutcome, Node } from "@/api/types";
import { Badge } from "@/components/ui/badge";

function Dot({ className }: { className: string }) {
  return <span aria-hidden className={`size-1.5 rounded-full ${className}`} />;
}

export function NodeStatusPill({ status }: { status: Node["status"] }) {
  return status === "online" ? (
    <Badge tone="success" data-testid="node-status">
      <Dot className="bg-emerald-500" /> Online
    </Badge>
  ) : (
    <Badge tone="danger" data-testid="node-status">
      <Dot className="bg-red-500" /> Offline
    </Badge>
  );
}

const OUTCOME_TONE = { success: "success", failure: "danger", denied: "warning" } as const;
const OUTCOME_LABEL = { success: "Success", failure: "Failure", denied: "Denied" } as const;

export function OutcomePill({ outcome }: { outcome: AuditOutcome }) {
  return (
    <Badge tone={OUTCOME_TONE[outcome] ?? "neutral"} data-outcome={outcome}>
      {OUTCOME_LABEL[outcome] ?? outcome}
    </Badge>
  );
}
