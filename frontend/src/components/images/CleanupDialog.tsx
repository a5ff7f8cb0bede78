import { useQueryClient } from "@tanstack/react-query";
import { Eraser, Eye, Loader2 } from "lucide-react";
import { useCallback, useEffect, useState } from "react";
import { imagesApi, resourceKeys, type CleanupPlan, type CleanupResult, type CleanupTarget } from "@/api/images";
import { isApiError } from "@/api/errors";
import type { JobDetail } from "@/api/types";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { CLEANUP_TARGETS, groupByTarget, planSummary, resultSummary } from "@/lib/cleanup";
import { formatBytes } from "@/lib/format";
import { CleanupSchedule } from "./CleanupSchedule";
import { JobProgress } from "./JobProgress";

type Step = "choose" | "preview" | "running";

const DEFAULT_TARGETS: CleanupTarget[] = ["stopped_containers", "dangling_images", "build_cache"];

/** Choose targets → Preview (a dry run: the exact list) → remove exactly that plan. */
export function CleanupDialog({ nodeId, nodeName, open, onOpenChange }: { nodeId: number; nodeName: string; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [targets, setTargets] = useState<CleanupTarget[]>(DEFAULT_TARGETS);
  const [includeManaged, setIncludeManaged] = useState(false);
  const [step, setStep] = useState<Step>("choose");
  const [plan, setPlan] = useState<CleanupPlan | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const [result, setResult] = useState<CleanupResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const queryClient = useQueryClient();

  useEffect(() => {
    if (open) {
      setStep("choose");
      setPlan(null);
      setJobId(null);
      setResult(null);
      setError(null);
    }
  }, [open]);

  const toggle = (t: CleanupTarget, on: boolean) => setTargets((cur) => (on ? [...cur, t] : cur.filter((x) => x !== t)));

  const preview = async () => {
    setPending(true);
    setError(null);
    try {
      setPlan(await imagesApi.preview(nodeId, { targets, include_managed: includeManaged }));
      setStep("preview");
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  const execute = async () => {
    if (!plan) return;
    setPending(true);
    setError(null);
    try {
      const accepted = await imagesApi.execute(nodeId, plan.plan_id);
      setJobId(accepted.job.id);
      setStep("running");
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };

  const onDone = useCallback(
    (job: JobDetail) => {
      setResult(job.status === "succeeded" ? (job.result as unknown as CleanupResult) : null);
      void queryClient.invalidateQueries({ queryKey: resourceKeys.all });
    },
    [queryClient],
  );

  const groups = plan ? groupByTarget(plan.items) : [];

  return (
    <Dialog open={open} onOpenChange={(o) => !pending && onOpenChange(o)}>
      <DialogContent data-testid="cleanup-dialog" className="sm:max-w-2xl">
        <DialogHeader>
          <DialogTitle>Clean up {nodeName}</DialogTitle>
          <DialogDescription>
            {step === "choose"
              ? "Choose what to remove. Preview lists exactly what would go; nothing is removed until you confirm."
              : step === "preview"
                ? "Only these items will be removed. Anything that comes into use meanwhile is skipped."
                : "Removing the previewed items."}
          </DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-4">
          {step === "choose" && (
            <fieldset className="space-y-3">
              <legend className="sr-only">Targets</legend>
              {CLEANUP_TARGETS.map((t) => (
                <label key={t.key} className="flex items-start gap-3 text-sm">
                  <Checkbox className="mt-0.5" checked={targets.includes(t.key)} onChange={(e) => toggle(t.key, e.target.checked)} data-testid={`target-${t.key}`} />
                  <span>
                    <span className="font-medium">{t.label}</span>
                    <span className="block text-xs text-muted-foreground">{t.hint}</span>
                  </span>
                </label>
              ))}
              <label className="flex items-start gap-3 border-t pt-3 text-sm">
                <Checkbox className="mt-0.5" checked={includeManaged} onChange={(e) => setIncludeManaged(e.target.checked)} data-testid="include-managed" />
                <span>
                  <span className="font-medium">Include stopped containers of Dockyard services</span>
                  <span className="block text-xs text-muted-foreground">A stopped service then has to be deployed again.</span>
                </span>
              </label>
              <CleanupSchedule nodeId={nodeId} targets={targets} includeManaged={includeManaged} />
            </fieldset>
          )}
          {step === "preview" && plan && (
            <div className="space-y-3" data-testid="cleanup-plan">
              <p className="text-sm font-medium" data-testid="cleanup-summary">
                {planSummary(plan.count, plan.reclaimable_bytes)}
              </p>
              {groups.map((g) => (
                <div key={g.target} className="rounded-md border">
                  <div className="flex items-center justify-between border-b bg-muted/40 px-3 py-1.5 text-xs font-medium">
                    <span>
                      {g.label} <span className="text-muted-foreground">({g.items.length})</span>
                    </span>
                    <span className="tabular-nums text-muted-foreground">{formatBytes(g.bytes)}</span>
                  </div>
                  <ul className="max-h-40 divide-y overflow-y-auto text-sm">
                    {g.items.map((i) => (
                      <li key={`${i.kind}-${i.id}`} className="flex items-center justify-between gap-3 px-3 py-1.5" data-testid="cleanup-item">
                        <span className="min-w-0 truncate font-mono text-[12px]" title={i.id}>
                          {i.name}
                        </span>
                        <span className="shrink-0 tabular-nums text-xs text-muted-foreground">{formatBytes(i.size_bytes ?? 0)}</span>
                      </li>
                    ))}
                  </ul>
                </div>
              ))}
            </div>
          )}
          {step === "running" && jobId && (
            <>
              <JobProgress jobId={jobId} onDone={onDone} />
              {result && (
                <div className="space-y-2" data-testid="cleanup-result">
                  <p className="text-sm font-medium">{resultSummary(result)}</p>
                  <ul className="max-h-40 divide-y overflow-y-auto rounded-md border text-sm">
                    {result.items.map((i) => (
                      <li key={`${i.kind}-${i.id}`} className="flex items-center justify-between gap-3 px-3 py-1.5">
                        <span className="min-w-0 truncate font-mono text-[12px]">{i.name}</span>
                        <span className="flex shrink-0 items-center gap-2 text-xs" title={i.reason ?? undefined}>
                          {i.reason && <span className="max-w-56 truncate text-muted-foreground">{i.reason}</span>}
                          <Badge tone={i.result === "removed" ? "success" : i.result === "skipped" ? "warning" : "danger"}>{i.result}</Badge>
                        </span>
                      </li>
                    ))}
                  </ul>
                </div>
              )}
            </>
          )}
          {error && (
            <p role="alert" className="text-sm text-destructive" data-testid="cleanup-error">
              {error}
            </p>
          )}
        </DialogBody>
        <DialogFooter>
          {step === "preview" && (
            <Button type="button" variant="outline" onClick={() => setStep("choose")} disabled={pending}>
              Back
            </Button>
          )}
          <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={pending}>
            {step === "running" ? "Close" : "Cancel"}
          </Button>
          {step === "choose" && (
            <Button type="button" onClick={() => void preview()} disabled={pending || targets.length === 0} data-testid="cleanup-preview">
              {pending ? <Loader2 className="animate-spin" /> : <Eye />} Preview
            </Button>
          )}
          {step === "preview" && plan && (
            <Button type="button" variant="destructive" onClick={() => void execute()} disabled={pending || plan.count === 0} data-testid="cleanup-execute">
              {pending ? <Loader2 className="animate-spin" /> : <Eraser />} Remove {plan.count} item{plan.count === 1 ? "" : "s"}
            </Button>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
