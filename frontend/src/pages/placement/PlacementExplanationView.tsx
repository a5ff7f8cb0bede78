import { CheckCircle2, XCircle } from "lucide-react";
import { Badge } from "@/components/ui/badge";

/** The stored/preview explanation shape (loose: the service detail types it as a plain object). */
export interface ExplanationLike {
  strategy?: string;
  chosen?: { node_id: number; node_name: string; score?: number; reasons: string[] } | null;
  candidates?: { node_id: number; node_name: string; eligible: boolean; score?: number | null; reasons: string[] }[];
}

/** The scheduler's choice and every node it rejected, with the reasons. */
export function PlacementExplanationView({ explanation, testId = "placement-explanation" }: { explanation: ExplanationLike; testId?: string }) {
  const chosen = explanation.chosen ?? null;
  const others = (explanation.candidates ?? []).filter((c) => !chosen || c.node_id !== chosen.node_id);
  return (
    <div className="space-y-3 text-sm" data-testid={testId}>
      {chosen ? (
        <div className="rounded-md border border-emerald-600/30 bg-emerald-50 p-3 dark:bg-emerald-950/30" data-testid="placement-chosen">
          <p className="flex items-center gap-1.5 font-medium">
            <CheckCircle2 className="size-4 text-emerald-600" /> Placed on {chosen.node_name}
            {explanation.strategy === "fixed" && <Badge className="ml-1">chosen by request</Badge>}
          </p>
          <ul className="mt-1.5 list-disc space-y-0.5 pl-6 text-muted-foreground">
            {chosen.reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="flex items-center gap-1.5 font-medium text-red-700 dark:text-red-300" data-testid="placement-none">
          <XCircle className="size-4" /> No node can run this service
        </p>
      )}
      {others.length > 0 && (
        <ul className="space-y-2">
          {others.map((c) => (
            <li key={c.node_id} className="rounded-md border p-3" data-testid="placement-candidate" data-eligible={c.eligible}>
              <p className="flex items-center gap-2 font-medium">
                {c.node_name}
                {c.eligible ? <Badge tone="success">fits · score {c.score?.toFixed(3)}</Badge> : <Badge tone="warning">rejected</Badge>}
              </p>
              {c.reasons.length > 0 && (
                <ul className="mt-1 list-disc space-y-0.5 pl-6 text-muted-foreground">
                  {c.reasons.map((r) => (
                    <li key={r}>{r}</li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
