import { useMutation } from "@tanstack/react-query";
import { Download, Loader2 } from "lucide-react";
import { useMemo, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { downloadAuthenticated } from "@/api/client";
import {
  analyticsCsvUrl,
  formatCost,
  lastDays,
  useCost,
  useOverview,
  useTopTools,
  useUserActivity,
  type AnalyticsRange,
  type AnalyticsView,
} from "@/api/mcp";
import { ErrorState } from "@/components/ErrorState";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input } from "@/components/ui/input";
import { Skeleton } from "@/components/ui/skeleton";
import { SegmentedList, SegmentedTrigger, Tabs } from "@/components/ui/tabs";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatCount } from "@/lib/format";

const PRESETS = [
  { key: "1", label: "24 h" },
  { key: "7", label: "7 days" },
  { key: "30", label: "30 days" },
  { key: "custom", label: "Custom" },
] as const;
const COLORS = ["#0284c7", "#16a34a", "#db2777", "#ca8a04", "#7c3aed", "#0891b2", "#ea580c", "#4b5563"];

function hourLabel(iso: string): string {
  const d = new Date(iso);
  return `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h`;
}

function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)} %`;
}

function dayInput(iso: string): string {
  return iso.slice(0, 10);
}

function ExportButton({ view, range }: { view: AnalyticsView; range: AnalyticsRange }) {
  const exp = useMutation({ mutationFn: () => downloadAuthenticated(analyticsCsvUrl(view, range), `dockyard-${view}.csv`) });
  return (
    <Button variant="ghost" size="sm" className="h-7 text-xs" onClick={() => exp.mutate()} disabled={exp.isPending} data-testid={`export-${view}`}>
      {exp.isPending ? <Loader2 className="animate-spin" /> : <Download />} CSV
    </Button>
  );
}

function ChartCard({ title, view, range, testId, children }: { title: string; view: AnalyticsView; range: AnalyticsRange; testId: string; children: React.ReactNode }) {
  return (
    <Card className="p-4" data-testid={testId}>
      <div className="mb-2 flex items-center justify-between">
        <p className="text-sm font-medium">{title}</p>
        <ExportButton view={view} range={range} />
      </div>
      <div className="h-52">{children}</div>
    </Card>
  );
}

/** Usage analytics (charts and tables) for all MCP servers or one. */
export function UsageAnalytics({ serverId }: { serverId?: number }) {
  const [preset, setPreset] = useState<string>("7");
  const [custom, setCustom] = useState(() => lastDays(7));
  const range: AnalyticsRange = useMemo(() => {
    const base = preset === "custom" ? custom : lastDays(Number(preset));
    return serverId ? { ...base, mcp_server_id: serverId } : base;
  }, [preset, custom.since, custom.until, serverId]);
  const overview = useOverview(range);
  const cost = useCost(range);
  const tools = useTopTools(range);
  const users = useUserActivity(range);

  const perHour = (overview.data?.per_hour ?? []).map((p) => ({ ...p, error_pct: p.error_rate * 100 }));
  const servers = useMemo(() => [...new Set((cost.data?.by_server_per_day ?? []).map((c) => c.mcp_server))], [cost.data]);
  const costByServer = useMemo(() => {
    const days = new Map<string, Record<string, number | string>>();
    for (const c of cost.data?.by_server_per_day ?? []) {
      const row: Record<string, number | string> = days.get(c.day) ?? { day: c.day };
      row[c.mcp_server] = c.cost;
      days.set(c.day, row);
    }
    return [...days.values()];
  }, [cost.data]);

  const o = overview.data;
  const axis = { fontSize: 11, stroke: "var(--color-muted-foreground)" };
  return (
    <div className="space-y-4" data-testid="usage-analytics">
      <div className="flex flex-wrap items-center gap-2">
        <Tabs value={preset} onValueChange={setPreset}>
          <SegmentedList aria-label="Date range">
            {PRESETS.map((p) => (
              <SegmentedTrigger key={p.key} value={p.key} data-testid={`range-${p.key}`}>
                {p.label}
              </SegmentedTrigger>
            ))}
          </SegmentedList>
        </Tabs>
        {preset === "custom" && (
          <div className="flex items-center gap-1.5 text-sm">
            <Input
              type="date"
              aria-label="From"
              className="h-8 w-40"
              value={dayInput(custom.since)}
              onChange={(e) => e.target.value && setCustom((c) => ({ ...c, since: `${e.target.value}T00:00:00Z` }))}
            />
            <span className="text-muted-foreground">to</span>
            <Input
              type="date"
              aria-label="To"
              className="h-8 w-40"
              value={dayInput(new Date(new Date(custom.until).getTime() - 1).toISOString())}
              onChange={(e) =>
                e.target.value && setCustom((c) => ({ ...c, until: new Date(new Date(`${e.target.value}T00:00:00Z`).getTime() + 86_400_000).toISOString() }))
              }
            />
          </div>
        )}
      </div>

      {overview.isError ? (
        <ErrorState error={overview.error} title="Couldn't load usage analytics" onRetry={() => void overview.refetch()} />
      ) : !o ? (
        <Skeleton className="h-24 w-full" />
      ) : (
        <div className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6" data-testid="usage-stats">
          {(
            [
              ["Queries", formatCount(o.queries), "stat-queries"],
              ["Cost today", formatCost(o.cost_today), "stat-cost-today"],
              ["Cost in range", formatCost(o.cost), "stat-cost"],
              ["Avg duration", ms(o.avg_ms), "stat-avg"],
              ["p95 duration", ms(o.p95_ms), "stat-p95"],
              ["Error rate", pct(o.error_rate), "stat-errors"],
            ] as const
          ).map(([label, value, tid]) => (
            <Card key={label} className="p-4">
              <p className="text-xs text-muted-foreground">{label}</p>
              <p className="text-xl font-semibold tabular-nums" data-testid={tid}>
                {value}
              </p>
            </Card>
          ))}
        </div>
      )}

      <div className="grid gap-4 lg:grid-cols-2">
        <ChartCard title="Queries per hour" view="overview" range={range} testId="chart-queries">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={perHour} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
              <XAxis dataKey="hour" tickFormatter={hourLabel} minTickGap={40} {...axis} />
              <YAxis width={48} {...axis} />
              <Tooltip labelFormatter={(v) => hourLabel(String(v))} />
              <Bar dataKey="queries" fill="#0284c7" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </ChartCard>
        <ChartCard title="Cost per day" view="cost" range={range} testId="chart-cost">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={cost.data?.per_day ?? []} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
              <XAxis dataKey="day" {...axis} />
              <YAxis width={56} tickFormatter={(v) => formatCost(Number(v))} {...axis} />
              <Tooltip formatter={(v) => [formatCost(Number(v)), "cost"]} />
              <Bar dataKey="cost" fill="#16a34a" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </ChartCard>
        {!serverId && (
          <ChartCard title="Cost by MCP server per day" view="cost" range={range} testId="chart-cost-by-server">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={costByServer} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
                <XAxis dataKey="day" {...axis} />
                <YAxis width={56} tickFormatter={(v) => formatCost(Number(v))} {...axis} />
                <Tooltip formatter={(v, name) => [formatCost(Number(v)), String(name)]} />
                <Legend wrapperStyle={{ fontSize: 11 }} />
                {servers.map((s, i) => (
                  <Bar key={s} dataKey={s} stackId="cost" fill={COLORS[i % COLORS.length]} isAnimationActive={false} />
                ))}
              </BarChart>
            </ResponsiveContainer>
          </ChartCard>
        )}
        <ChartCard title="Duration per hour (avg and p95)" view="performance" range={range} testId="chart-p95">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={perHour} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
              <XAxis dataKey="hour" tickFormatter={hourLabel} minTickGap={40} {...axis} />
              <YAxis width={56} unit=" ms" {...axis} />
              <Tooltip labelFormatter={(v) => hourLabel(String(v))} formatter={(v, name) => [ms(Number(v)), String(name)]} />
              <Legend wrapperStyle={{ fontSize: 11 }} />
              <Line dataKey="p95_ms" name="p95" stroke="#db2777" dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
              <Line dataKey="avg_ms" name="avg" stroke="#0284c7" dot={false} strokeWidth={2} isAnimationActive={false} connectNulls />
            </LineChart>
          </ResponsiveContainer>
        </ChartCard>
        <ChartCard title="Error rate per hour" view="errors" range={range} testId="chart-errors">
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={perHour} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
              <XAxis dataKey="hour" tickFormatter={hourLabel} minTickGap={40} {...axis} />
              <YAxis width={48} unit=" %" {...axis} />
              <Tooltip labelFormatter={(v) => hourLabel(String(v))} formatter={(v) => [`${Number(v).toFixed(2)} %`, "errors"]} />
              <Line dataKey="error_pct" stroke="#dc2626" dot={false} strokeWidth={2} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        </ChartCard>
      </div>

      <div className="grid gap-4 xl:grid-cols-2">
        <Card className="overflow-x-auto">
          <div className="flex items-center justify-between border-b px-4 py-2">
            <p className="text-sm font-medium">Top tools</p>
            <ExportButton view="tools" range={range} />
          </div>
          <Table data-testid="top-tools">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Tool</TableHead>
                {!serverId && <TableHead>Server</TableHead>}
                <TableHead className="text-right">Queries</TableHead>
                <TableHead className="text-right">Errors</TableHead>
                <TableHead className="text-right">p95</TableHead>
                <TableHead className="text-right">Cost</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {(tools.data?.items ?? []).slice(0, 15).map((t) => (
                <TableRow key={`${t.mcp_server_id}-${t.tool}`} data-testid="tool-row">
                  <TableCell className="font-mono text-xs">{t.tool}</TableCell>
                  {!serverId && <TableCell className="text-sm">{t.mcp_server}</TableCell>}
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{formatCount(t.queries)}</TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{pct(t.error_rate)}</TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{ms(t.p95_ms)}</TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{formatCost(t.cost)}</TableCell>
                </TableRow>
              ))}
              {tools.data && tools.data.items.length === 0 && (
                <TableRow>
                  <TableCell colSpan={6} className="py-6 text-center text-sm text-muted-foreground">
                    No usage in this range.
                  </TableCell>
                </TableRow>
              )}
            </TableBody>
          </Table>
        </Card>
        <Card className="overflow-x-auto">
          <div className="flex items-center justify-between border-b px-4 py-2">
            <p className="text-sm font-medium">Users</p>
            <ExportButton view="users" range={range} />
          </div>
          <Table data-testid="user-activity">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>User</TableHead>
                <TableHead className="text-right">Queries</TableHead>
                <TableHead className="text-right">Errors</TableHead>
                <TableHead className="text-right">Avg</TableHead>
                <TableHead className="text-right">Tokens in/out</TableHead>
                <TableHead className="text-right">Cost</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {(users.data?.items ?? []).slice(0, 50).map((u) => (
                <TableRow key={u.user} data-testid="user-row">
                  <TableCell className="max-w-48 truncate text-sm" title={u.user}>
                    {u.user}
                  </TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{formatCount(u.queries)}</TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{pct(u.error_rate)}</TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{ms(u.avg_ms)}</TableCell>
                  <TableCell className="text-right text-xs whitespace-nowrap tabular-nums">
                    {formatCount(u.tokens_in)} / {formatCount(u.tokens_out)}
                  </TableCell>
                  <TableCell className="text-right whitespace-nowrap tabular-nums">{formatCost(u.cost)}</TableCell>
                </TableRow>
              ))}
              {users.data && users.data.items.length === 0 && (
                <TableRow>
                  <TableCell colSpan={6} className="py-6 text-center text-sm text-muted-foreground">
                    No usage in this range.
                  </TableCell>
                </TableRow>
              )}
            </TableBody>
          </Table>
        </Card>
      </div>
    </div>
  );
}
