import { useMutation, useQueryClient } from "@tanstack/react-query";
import { HeartPulse, Loader2, Pencil, Play, Plus, Trash2 } from "lucide-react";
import { Link } from "react-router";
import { toast } from "sonner";
import { describeTarget, formatUptime, healthApi, healthKeys, useHealthChecks, type HealthCheckOut } from "@/api/health";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useListEditing } from "@/lib/useListEditing";
import { CheckDialog } from "@/pages/health/CheckDialog";

export function StatusBadge({ status, enabled = true }: { status: HealthCheckOut["status"]; enabled?: boolean }) {
  if (!enabled) return <Badge data-testid="check-status" data-status="paused">paused</Badge>;
  if (status === "up")
    return (
      <Badge tone="success" data-testid="check-status" data-status="up">
        up
      </Badge>
    );
  if (status === "down")
    return (
      <Badge tone="danger" data-testid="check-status" data-status="down">
        down
      </Badge>
    );
  return (
    <Badge data-testid="check-status" data-status="unknown">
      not run yet
    </Badge>
  );
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export function RunNowButton({ check, size = "sm" }: { check: HealthCheckOut; size?: "sm" | "default" }) {
  const queryClient = useQueryClient();
  const run = useMutation({
    mutationFn: () => healthApi.run(check.id),
    onSuccess: (r) => {
      void queryClient.invalidateQueries({ queryKey: healthKeys.all });
      toast(r.status === "up" ? `${check.name} is up (${formatLatency(r.latency_ms)})` : `${check.name} failed: ${r.error ?? "down"}`);
    },
  });
  return (
    <Button variant="outline" size={size} onClick={() => run.mutate()} disabled={run.isPending} data-testid="check-run">
      {run.isPending ? <Loader2 className="animate-spin" /> : <Play />} Run now
    </Button>
  );
}

export function HealthPage() {
  usePageTitle("Health");
  const checks = useHealthChecks();
  const { editing, dialogOpen, setDialogOpen, openDialog, deleting, setDeleting, remove } = useListEditing<HealthCheckOut>({
    remove: (id) => healthApi.remove(id),
    queryKey: healthKeys.all,
    noun: "the check",
  });
  const add = (
    <Button onClick={() => openDialog(null)} data-testid="check-add">
      <Plus /> Add check
    </Button>
  );

  const items = checks.data?.items ?? [];
  const up = items.filter((c) => c.enabled && c.status === "up").length;
  const down = items.filter((c) => c.enabled && c.status === "down").length;

  let body;
  if (checks.isError) {
    body = <ErrorState error={checks.error} title="Couldn't load the health checks" onRetry={() => void checks.refetch()} />;
  } else if (checks.isPending) {
    body = (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 3 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  } else if (items.length === 0) {
    body = (
      <EmptyState
        icon={HeartPulse}
        title="No health checks yet"
        description="Probe HTTP endpoints, TCP ports, containers' Docker state or MCP servers on an interval, and restart what fails."
        action={add}
      />
    );
  } else {
    body = (
      <>
        <div className="mb-4 grid gap-3 sm:grid-cols-3" data-testid="health-summary">
          <Card className="p-4">
            <p className="text-xs text-muted-foreground">Checks</p>
            <p className="text-2xl font-semibold tabular-nums">{items.length}</p>
          </Card>
          <Card className="p-4">
            <p className="text-xs text-muted-foreground">Up</p>
            <p className="text-2xl font-semibold tabular-nums text-emerald-700 dark:text-emerald-300" data-testid="health-up-count">
              {up}
            </p>
          </Card>
          <Card className="p-4">
            <p className="text-xs text-muted-foreground">Down</p>
            <p className={down ? "text-2xl font-semibold tabular-nums text-red-700 dark:text-red-300" : "text-2xl font-semibold tabular-nums"} data-testid="health-down-count">
              {down}
            </p>
          </Card>
        </div>
        <Card className="overflow-x-auto">
          <Table data-testid="checks-table">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Status</TableHead>
                <TableHead>Check</TableHead>
                <TableHead className="text-right">24 h</TableHead>
                <TableHead className="text-right">7 d</TableHead>
                <TableHead className="text-right">30 d</TableHead>
                <TableHead className="text-right">Latency</TableHead>
                <TableHead>Checked</TableHead>
                <TableHead className="w-40">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {items.map((c) => (
                <TableRow key={c.id} data-testid="check-row" data-name={c.name}>
                  <TableCell>
                    <StatusBadge status={c.status} enabled={c.enabled} />
                  </TableCell>
                  <TableCell className="max-w-md">
                    <Link to={`/health/${c.id}`} className="font-medium hover:underline">
                      {c.name}
                    </Link>
                    <div className="truncate font-mono text-xs text-muted-foreground" title={describeTarget(c)}>
                      <Badge tone="mono" className="mr-1.5">
                        {c.kind}
                      </Badge>
                      {describeTarget(c)}
                    </div>
                    {c.status === "down" && c.last_error && <div className="mt-0.5 truncate text-xs text-red-700 dark:text-red-300">{c.last_error}</div>}
                  </TableCell>
                  <TableCell className="text-right tabular-nums" data-testid="uptime-24h">
                    {formatUptime(c.uptime.h24)}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{formatUptime(c.uptime.d7)}</TableCell>
                  <TableCell className="text-right tabular-nums">{formatUptime(c.uptime.d30)}</TableCell>
                  <TableCell className="text-right tabular-nums">{formatLatency(c.last_latency_ms)}</TableCell>
                  <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(c.last_checked_at)}>
                    {c.last_checked_at ? formatRelative(c.last_checked_at) : "never"}
                  </TableCell>
                  <TableCell className="py-1.5">
                    <div className="flex justify-end gap-1">
                      <RunNowButton check={c} />
                      <Button variant="ghost" size="icon" aria-label={`Edit ${c.name}`} onClick={() => openDialog(c)} data-testid="check-edit">
                        <Pencil />
                      </Button>
                      <Button variant="ghost" size="icon" aria-label={`Delete ${c.name}`} onClick={() => setDeleting(c)} data-testid="check-delete">
                        <Trash2 />
                      </Button>
                    </div>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Card>
      </>
    );
  }

  return (
    <div>
      <PageHeader description="Uptime of every check: HTTP endpoints, TCP ports, Docker state and MCP servers." actions={items.length ? add : undefined} />
      {body}
      <CheckDialog open={dialogOpen} onOpenChange={setDialogOpen} check={editing} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description="Its history goes with it."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => {
          if (deleting) remove.mutate(deleting.id);
        }}
      />
    </div>
  );
}
