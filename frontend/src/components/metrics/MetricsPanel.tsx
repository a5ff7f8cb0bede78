/** The shared frame of the metrics charts: range selector, chart grid, empty and error states. */
import { Activity } from "lucide-react";
import type { ReactNode } from "react";
import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { SegmentedList, SegmentedTrigger, Tabs } from "@/components/ui/tabs";
import { formatBytes, formatCount } from "@/lib/format";
import { METRICS_RANGES, evenTicks, formatPercent, formatRate, tickLabel, tierLabel, timeDomain, type MetricsRange } from "./format";

export type Unit = "percent" | "bytes" | "rate" | "count";

export interface ChartSpec {
  id: string;
  title: string;
  unit: Unit;
  series: { key: string; name: string; color: string }[];
  /** Fixed top of the Y axis (e.g. 100 for host percentages). */
  max?: number;
}

export function formatValue(unit: Unit, value: number | null | undefined): string {
  switch (unit) {
    case "percent":
      return formatPercent(value);
    case "bytes":
      return formatBytes(value);
    case "rate":
      return formatRate(value);
    default:
      return value == null ? "—" : formatCount(Math.round(value * 10) / 10);
  }
}

export function RangeSelector({ value, onChange }: { value: MetricsRange; onChange: (r: MetricsRange) => void }) {
  return (
    <Tabs value={value} onValueChange={(v) => onChange(v as MetricsRange)}>
      <SegmentedList aria-label="Time range" data-testid="metrics-range">
        {METRICS_RANGES.map((r) => (
          <SegmentedTrigger key={r} value={r} data-testid={`metrics-range-${r}`}>
            {r}
          </SegmentedTrigger>
        ))}
      </SegmentedList>
    </Tabs>
  );
}

function MetricChart({
  spec,
  rows,
  range,
  domain,
}: {
  spec: ChartSpec;
  rows: Record<string, number>[];
  range: MetricsRange;
  domain: [number, number];
}) {
  const latest = rows.at(-1);
  return (
    <Card className="gap-0 py-0" data-testid={`metrics-chart-${spec.id}`}>
      <div className="flex items-baseline justify-between gap-2 px-4 pt-3">
        <h3 className="text-sm font-medium">{spec.title}</h3>
        <span className="truncate text-xs text-muted-foreground tabular-nums">
          {latest ? spec.series.map((s) => `${spec.series.length > 1 ? `${s.name} ` : ""}${formatValue(spec.unit, latest[s.key])}`).join(" · ") : ""}
        </span>
      </div>
      <div className="h-44 px-1 pt-2 pb-1">
        <ResponsiveContainer width="100%" height="100%">
          <AreaChart data={rows} margin={{ left: 4, right: 12, top: 4, bottom: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} className="stroke-border" />
            <XAxis
              dataKey="ts"
              type="number"
              scale="time"
              domain={domain}
              ticks={evenTicks(domain)}
              allowDataOverflow
              tickFormatter={(v: number) => tickLabel(v, range)}
              tick={{ fontSize: 11 }}
              minTickGap={40}
            />
            <YAxis
              width={64}
              tick={{ fontSize: 11 }}
              domain={[0, spec.max ?? "auto"]}
              tickFormatter={(v: number) => formatValue(spec.unit, v)}
            />
            <Tooltip
              labelFormatter={(v) => new Date(Number(v)).toLocaleString()}
              formatter={(v, name) => [formatValue(spec.unit, Number(v)), String(name)]}
            />
            {spec.series.map((s) => (
              <Area
                key={s.key}
                type="monotone"
                dataKey={s.key}
                name={s.name}
                stroke={s.color}
                fill={s.color}
                fillOpacity={0.12}
                strokeWidth={1.5}
                dot={rows.length < 3}
                isAnimationActive={false}
              />
            ))}
          </AreaChart>
        </ResponsiveContainer>
      </div>
    </Card>
  );
}

interface SeriesQuery {
  data?: { tier: "raw" | "1m" | "1h"; resolution_s: number; since: string } | undefined;
  isPending: boolean;
  isError: boolean;
  error: unknown;
  refetch: () => unknown;
}

export function MetricsPanel({
  testId,
  title,
  subject,
  range,
  onRange,
  query,
  rows,
  charts,
  emptyHint,
  summary,
}: {
  testId: string;
  title: string;
  subject: string;
  range: MetricsRange;
  onRange: (r: MetricsRange) => void;
  query: SeriesQuery;
  rows: Record<string, number>[];
  charts: ChartSpec[];
  emptyHint: ReactNode;
  summary?: ReactNode;
}) {
  // The whole range on the X axis (points fill in from the right as they are collected).
  const domain = timeDomain(query.data?.since, rows);
  let body: ReactNode;
  if (query.isError && !query.data) {
    body = <ErrorState error={query.error} title={`Couldn't load the ${subject} metrics`} onRetry={() => void query.refetch()} />;
  } else if (query.isPending) {
    body = (
      <div className="grid gap-4 md:grid-cols-2">
        {charts.map((c) => (
          <Skeleton key={c.id} className="h-52 w-full" />
        ))}
      </div>
    );
  } else if (rows.length === 0) {
    body = <EmptyState icon={Activity} title="No metrics in this range" description={emptyHint} className="py-10" />;
  } else {
    body = (
      <div className="grid gap-4 md:grid-cols-2">
        {charts.map((c) => (
          <MetricChart key={c.id} spec={c} rows={rows} range={range} domain={domain} />
        ))}
      </div>
    );
  }
  return (
    <section className="space-y-4" data-testid={testId}>
      <Card className="gap-0 py-0">
        <CardHeader className="flex-row flex-wrap items-center justify-between gap-3 py-4">
          <div className="space-y-1">
            <CardTitle className="flex items-center gap-2">
              <Activity className="size-4 text-muted-foreground" /> {title}
            </CardTitle>
            <CardDescription data-testid="metrics-tier">
              {query.data ? tierLabel(query.data.tier, query.data.resolution_s) : "Loading…"}
              {summary ? <> · {summary}</> : null}
            </CardDescription>
          </div>
          <RangeSelector value={range} onChange={onRange} />
        </CardHeader>
      </Card>
      {body}
    </section>
  );
}
