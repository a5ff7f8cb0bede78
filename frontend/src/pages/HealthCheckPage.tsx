import { ArrowLeft, ChevronLeft, ChevronRight, HeartPulse, Pencil } from "lucide-react";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { isApiError } from "@/api/errors";
import { describeTarget, formatUptime, useHealthCheck, useHealthHistory } from "@/api/health";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatDateTime, formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { formatLatency, RunNowButton, StatusBadge } from "@/pages/HealthPage";
import { CheckDialog } from "@/pages/health/CheckDialog";

const PAGE = 20;

function timeLabel(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function HealthCheckPage() {
  const { id: rawId } = useParams();
  const id = Number(rawId);
  const valid = Number.isInteger(id) && id > 0;
  const check = useHealthCheck(valid ? id : 0);
  const [offset, setOffset] = useState(0);
  const history = useHealthHistory(valid ? id : 0, offset, PAGE);
  const [editing, setEditing] = useState(false);
  usePageTitle("Health", check.data ? `${check.data.name} · Health` : "Health check");

  const back = (
    <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
      <Link to="/health">
        <ArrowLeft /> All checks
      </Link>
    </Button>
  );
  if (!valid || (check.isError && isApiError(check.error) && check.error.status === 404)) {
    return (
      <div>
        {back}
        <EmptyState icon={HeartPulse} title="Check not found" description="This health check does not exist or was deleted." />
      </div>
    );
  }
  if (check.isError && !check.data) {
    return (
      <div>
        {back}
        <ErrorState error={check.error} title="Couldn't load this check" onRetry={() => void check.refetch()} />
      </div>
    );
  }
  if (!check.data) {
    return (
      <div>
        {back}
        <Skeleton className="h-40 w-full" />
      </div>
    );
  }
  const c = check.data;
  const points = c.latency.map((p) => ({ t: p.checked_at, latency: p.latency_ms, up: p.status === "up" }));
  const total = history.data?.total ?? 0;

  return (
    <div>
      {back}
      <div className="mb-5 flex flex-wrap items-start justify-between gap-3">
        <div>
          <div className="flex items-center gap-2">
            <h2 className="text-lg font-semibold" data-testid="check-title">
              {c.name}
            </h2>
            <StatusBadge status={c.status} enabled={c.enabled} />
          </div>
          <p className="mt-1 font-mono text-xs text-muted-foreground">
            <Badge tone="mono" className="mr-1.5">
              {c.kind}
            </Badge>
            {describeTarget(c)} · every {c.interval_s} s · down after {c.retries} failure{c.retries === 1 ? "" : "s"}
            {c.remediation && ` · ${c.remediation.action.replace("_", " ")} after ${c.remediation.after_failures} (≤ ${c.remediation.max_per_hour}/h)`}
          </p>
          {c.status === "down" && c.last_error && <p className="mt-1 text-sm text-red-700 dark:text-red-300">{c.last_error}</p>}
        </div>
        <div className="flex gap-2">
          <RunNowButton check={c} size="default" />
          <Button variant="outline" onClick={() => setEditing(true)} data-testid="check-edit">
            <Pencil /> Edit
          </Button>
        </div>
      </div>

      <div className="mb-4 grid gap-3 sm:grid-cols-4">
        {(
          [
            ["Uptime 24 h", formatUptime(c.uptime.h24)],
            ["Uptime 7 d", formatUptime(c.uptime.d7)],
            ["Uptime 30 d", formatUptime(c.uptime.d30)],
            ["Last latency", formatLatency(c.last_latency_ms)],
          ] as const
        ).map(([label, value]) => (
          <Card key={label} className="p-4">
            <p className="text-xs text-muted-foreground">{label}</p>
            <p className="text-2xl font-semibold tabular-nums">{value}</p>
          </Card>
        ))}
      </div>

      <Card className="mb-4 p-4" data-testid="latency-chart">
        <p className="mb-2 text-sm font-medium">Latency, last 24 h</p>
        {points.length === 0 ? (
          <p className="py-10 text-center text-sm text-muted-foreground">No results yet: run the check or wait for its interval.</p>
        ) : (
          <div className="h-56">
            <ResponsiveContainer width="100%" height="100%">
              <LineChart data={points} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
                <XAxis dataKey="t" tickFormatter={timeLabel} minTickGap={40} fontSize={11} stroke="var(--color-muted-foreground)" />
                <YAxis unit=" ms" width={64} fontSize={11} stroke="var(--color-muted-foreground)" />
                <Tooltip labelFormatter={(v) => formatDateTime(String(v))} formatter={(v) => [formatLatency(Number(v)), "latency"]} />
                <Line type="monotone" dataKey="latency" stroke="#0284c7" strokeWidth={2} dot={points.length < 60} isAnimationActive={false} connectNulls />
              </LineChart>
            </ResponsiveContainer>
          </div>
        )}
      </Card>

      <Card className="overflow-x-auto">
        <div className="flex items-center justify-between border-b px-4 py-2">
          <p className="text-sm font-medium">History</p>
          <div className="flex items-center gap-2 text-xs text-muted-foreground">
            {total > 0 && (
              <span>
                {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
              </span>
            )}
            <Button variant="ghost" size="icon" aria-label="Newer" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              <ChevronLeft />
            </Button>
            <Button variant="ghost" size="icon" aria-label="Older" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
              <ChevronRight />
            </Button>
          </div>
        </div>
        <Table data-testid="history-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Status</TableHead>
              <TableHead>Checked</TableHead>
              <TableHead className="text-right">Latency</TableHead>
              <TableHead>Error</TableHead>
              <TableHead>Remediation</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {(history.data?.items ?? []).map((r) => (
              <TableRow key={r.id} data-testid="history-row">
                <TableCell>
                  <Badge tone={r.status === "up" ? "success" : "danger"}>{r.status}</Badge>
                </TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(r.checked_at)}>
                  {formatRelative(r.checked_at)}
                </TableCell>
                <TableCell className="text-right tabular-nums">{formatLatency(r.latency_ms)}</TableCell>
                <TableCell className="max-w-sm truncate text-sm" title={r.error ?? ""}>
                  {r.error ?? ""}
                </TableCell>
                <TableCell className="max-w-xs truncate text-sm text-muted-foreground" title={r.remediation ?? ""}>
                  {r.remediation ?? ""}
                </TableCell>
              </TableRow>
            ))}
            {history.data && history.data.items.length === 0 && (
              <TableRow>
                <TableCell colSpan={5} className="py-6 text-center text-sm text-muted-foreground">
                  No results yet.
                </TableCell>
              </TableRow>
            )}
          </TableBody>
        </Table>
      </Card>
      <CheckDialog open={editing} onOpenChange={setEditing} check={c} />
    </div>
  );
}
