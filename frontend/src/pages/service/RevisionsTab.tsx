import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Download, Eye, GitCompareArrows, History, RotateCcw, X } from "lucide-react";
import { useMemo, useState } from "react";
import { toast } from "sonner";
import { serviceKeys, useRevision, useRevisionDiff, useRevisions } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { RevisionOut, ServiceDetail } from "@/api/types";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { exportCompose } from "@/components/services/ServiceActions";
import { RelativeTime } from "@/components/services/ServiceBits";
import { useServiceActions } from "@/components/services/useServiceActions";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Tip } from "@/components/ui/tooltip";
import { diffStats, parseUnifiedDiff, type DiffLineKind } from "@/lib/diff";
import { cn } from "@/lib/utils";

const SOURCE_LABEL: Record<string, string> = {
  ui: "Web UI",
  api: "API",
  import: "Import",
  restore: "Restore",
  adopt: "Adopted",
  cli: "CLI",
};

const LINE_CLASS: Record<DiffLineKind, string> = {
  file: "text-zinc-400 font-semibold",
  hunk: "bg-sky-500/10 text-sky-300",
  add: "bg-emerald-500/15 text-emerald-200",
  del: "bg-red-500/15 text-red-200",
  context: "text-zinc-300",
  meta: "text-zinc-500 italic",
};

function DiffView({ serviceId, from, to, onClose }: { serviceId: number; from: number; to: number; onClose: () => void }) {
  const diff = useRevisionDiff(serviceId, from, to);
  const lines = useMemo(() => parseUnifiedDiff(diff.data?.diff ?? ""), [diff.data]);
  const stats = diffStats(lines);
  return (
    <Card data-testid="revision-diff">
      <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2">
            <GitCompareArrows className="size-4 text-muted-foreground" /> r{from} → r{to}
          </CardTitle>
          <CardDescription>
            {diff.data ? (
              <>
                <span className="text-emerald-700 dark:text-emerald-400">+{stats.added}</span>{" "}
                <span className="text-red-700 dark:text-red-400">−{stats.removed}</span>
                {diff.data.changed_services.length > 0 && <> · changed: {diff.data.changed_services.join(", ")}</>}
              </>
            ) : (
              "Comparing…"
            )}
          </CardDescription>
        </div>
        <Button variant="ghost" size="sm" onClick={onClose}>
          <X /> Close
        </Button>
      </CardHeader>
      <CardContent>
        {diff.isPending ? (
          <Skeleton className="h-40 w-full" />
        ) : diff.isError ? (
          <ErrorState error={diff.error} title="Couldn't compare" onRetry={() => void diff.refetch()} />
        ) : lines.length === 0 ? (
          <p className="rounded-md border bg-muted/40 px-4 py-6 text-center text-sm text-muted-foreground">These revisions are identical.</p>
        ) : (
          <div className="max-h-[60svh] overflow-auto rounded-md border border-zinc-800 bg-zinc-950 py-2 font-mono text-[12.5px] leading-5">
            <table className="min-w-full border-collapse">
              <tbody>
                {lines.map((l, i) => (
                  <tr key={i} className={LINE_CLASS[l.kind]} data-kind={l.kind}>
                    <td className="w-10 pr-2 pl-3 text-right align-top text-zinc-600 select-none">{l.oldNo ?? ""}</td>
                    <td className="w-10 pr-3 text-right align-top text-zinc-600 select-none">{l.newNo ?? ""}</td>
                    <td className="pr-4 whitespace-pre">{l.text}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </CardContent>
    </Card>
  );
}

function YamlDialog({ service, number, onClose }: { service: ServiceDetail; number: number | null; onClose: () => void }) {
  const rev = useRevision(service.id, number);
  return (
    <Dialog open={number !== null} onOpenChange={(o) => !o && onClose()}>
      <DialogContent className="max-w-3xl" data-testid="revision-yaml">
        <DialogHeader>
          <DialogTitle>Revision {number}</DialogTitle>
          <DialogDescription>{rev.data?.comment || "Compose YAML of this revision"}</DialogDescription>
        </DialogHeader>
        <DialogBody>
          {rev.isPending ? (
            <Skeleton className="h-64 w-full" />
          ) : rev.isError ? (
            <ErrorState error={rev.error} title="Couldn't load the revision" />
          ) : (
            <pre className="max-h-[60svh] overflow-auto rounded-md border bg-muted/40 p-3 font-mono text-[12.5px] leading-5">{rev.data.compose}</pre>
          )}
        </DialogBody>
        <DialogFooter>
          <Button variant="outline" onClick={() => number !== null && void exportCompose(service, number)}>
            <Download /> Download
          </Button>
          <Button onClick={onClose}>Close</Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function RevisionsTab({ service }: { service: ServiceDetail }) {
  const revisions = useRevisions(service.id);
  const queryClient = useQueryClient();
  const actions = useServiceActions(service);
  const [selected, setSelected] = useState<number[]>([]);
  const [viewing, setViewing] = useState<number | null>(null);
  const [restoring, setRestoring] = useState<RevisionOut | null>(null);
  const [restoreComment, setRestoreComment] = useState("");

  const restore = useMutation({
    mutationFn: (n: number) => servicesApi.restore(service.id, n, restoreComment.trim()),
    onSuccess: (rev, n) => {
      setRestoring(null);
      void queryClient.invalidateQueries({ queryKey: serviceKeys.item(service.id) });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      toast.success(`Restored revision ${n} as revision ${rev.number}`, {
        description: "Deploy it to run it.",
        action: { label: "Deploy now", onClick: () => actions.request("deploy") },
      });
    },
  });

  const toggle = (n: number) =>
    setSelected((sel) => (sel.includes(n) ? sel.filter((x) => x !== n) : [...sel, n].slice(-2)));
  const pair = selected.length === 2 ? ([Math.min(...selected), Math.max(...selected)] as const) : null;

  if (revisions.isPending) {
    return (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 4 }, (_, i) => (
          <Skeleton key={i} className="h-10 w-full" />
        ))}
      </Card>
    );
  }
  if (revisions.isError) return <ErrorState error={revisions.error} title="Couldn't load revisions" onRetry={() => void revisions.refetch()} />;
  const { items, deployed_revision: deployed, latest_revision: latest } = revisions.data;
  if (items.length === 0) return <EmptyState icon={History} title="No revisions" description="Every saved change of the definition becomes a revision." />;

  return (
    <div className="space-y-5">
      <p className="text-sm text-muted-foreground">
        {pair ? (
          <>Comparing r{pair[0]} with r{pair[1]}.</>
        ) : (
          <>Select two revisions to compare them. Restoring saves an old definition as a new revision; nothing runs until you deploy.</>
        )}
      </p>
      <Card className="overflow-hidden">
        <ul className="divide-y">
          {items.map((r, idx) => {
            const prev = items[idx + 1];
            return (
              <li key={r.number} className={cn("flex flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3 sm:flex-nowrap", selected.includes(r.number) && "bg-accent/50")} data-testid="revision-row" data-revision={r.number}>
                <Checkbox
                  aria-label={`Select revision ${r.number} to compare`}
                  checked={selected.includes(r.number)}
                  onChange={() => toggle(r.number)}
                  data-testid="revision-select"
                />
                <div className="min-w-0 flex-1 max-sm:basis-[calc(100%-2.5rem)]">
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="font-mono text-sm font-semibold">r{r.number}</span>
                    {r.number === latest && <Badge tone="accent">latest</Badge>}
                    {r.number === deployed && <Badge tone="success" data-testid="revision-deployed">deployed</Badge>}
                    <Badge tone="neutral">{SOURCE_LABEL[r.source] ?? r.source}</Badge>
                  </div>
                  <p className={cn("mt-0.5 truncate text-sm", !r.comment && "text-muted-foreground italic")} title={r.comment || undefined}>
                    {r.comment || "No comment"}
                  </p>
                  <p className="text-xs text-muted-foreground">
                    {r.created_by_label ?? "system"} · <RelativeTime iso={r.created_at} />
                  </p>
                </div>
                <div className="flex shrink-0 items-center gap-1 max-sm:w-full max-sm:justify-end">
                  {prev && (
                    <Tip content={`Changes from r${prev.number}`}>
                      <Button variant="ghost" size="sm" onClick={() => setSelected([prev.number, r.number])} aria-label={`Show changes of revision ${r.number}`}>
                        <GitCompareArrows /> <span className="max-md:sr-only">Changes</span>
                      </Button>
                    </Tip>
                  )}
                  <Button variant="ghost" size="sm" onClick={() => setViewing(r.number)} data-testid="revision-view">
                    <Eye /> <span className="max-md:sr-only">View YAML</span>
                  </Button>
                  {r.number !== latest && (
                    <Button
                      variant="outline"
                      size="sm"
                      onClick={() => {
                        setRestoreComment("");
                        setRestoring(r);
                      }}
                      data-testid="revision-restore"
                    >
                      <RotateCcw /> Restore
                    </Button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      </Card>

      {pair && <DiffView serviceId={service.id} from={pair[0]} to={pair[1]} onClose={() => setSelected([])} />}

      <YamlDialog service={service} number={viewing} onClose={() => setViewing(null)} />
      <ConfirmDialog
        open={restoring !== null}
        onOpenChange={(o) => !o && setRestoring(null)}
        title={`Restore revision ${restoring?.number}?`}
        description={`Its definition is saved as revision ${latest + 1}. Nothing runs until you deploy it.`}
        confirmLabel="Restore"
        pending={restore.isPending}
        onConfirm={() => {
          if (restoring) restore.mutate(restoring.number);
        }}
      >
        <div className="space-y-1.5">
          <Label htmlFor="restore-comment">Comment</Label>
          <Input id="restore-comment" value={restoreComment} onChange={(e) => setRestoreComment(e.target.value)} placeholder={`Restored revision ${restoring?.number}`} maxLength={500} />
        </div>
      </ConfirmDialog>
      {actions.dialogs}
    </div>
  );
}
