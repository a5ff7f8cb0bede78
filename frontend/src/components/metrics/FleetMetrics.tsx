/** Dashboard card: fleet CPU and memory (all nodes together) over 24 hours. */
import { Cpu } from "lucide-react";
import { Area, AreaChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { formatBytes } from "@/lib/format";
import { evenTicks, formatPercent, tickLabel, timeDomain, toRows } from "./format";
import { useFleetMetrics } from "./metricsApi";

export function FleetMetricsCard() {
  const fleet = useFleetMetrics("24h");
  const rows = toRows(fleet.data?.points ?? [], { CPU: (p) => p.cpu_pct, Memory: (p) => p.mem_pct });
  const now = fleet.data?.now;
  const domain = timeDomain(fleet.data?.since, rows);
  return (
    <Card data-testid="fleet-metrics">
      <CardHeader className="border-b pb-3">
        <CardTitle className="flex items-center gap-2">
          <Cpu className="size-4 text-muted-foreground" /> Fleet CPU and memory over 24 hours
        </CardTitle>
        <CardDescription>
          {now && now.nodes_reporting > 0
            ? `Now: CPU ${formatPercent(now.cpu_pct)} of ${now.cpu_count} cores, memory ${formatBytes(now.mem_used)} of ${formatBytes(now.mem_total)} (${now.nodes_reporting} node${now.nodes_reporting === 1 ? "" : "s"} reporting)`
            : "All nodes together"}
        </CardDescription>
      </CardHeader>
      <div className="h-56 px-2 py-3">
        {fleet.isPending ? (
          <Skeleton className="h-full w-full" />
        ) : fleet.isError || rows.length === 0 ? (
          <p className="px-3 py-6 text-sm text-muted-foreground">
            {fleet.isError ? "Fleet metrics could not be loaded." : "No metrics collected yet."}
          </p>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <AreaChart data={rows} margin={{ left: -8, right: 12 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} className="stroke-border" />
              <XAxis dataKey="ts" type="number" scale="time" domain={domain} ticks={evenTicks(domain)} allowDataOverflow tickFormatter={(v: number) => tickLabel(v, "24h")} tick={{ fontSize: 11 }} minTickGap={40} />
              <YAxis domain={[0, 100]} tick={{ fontSize: 11 }} tickFormatter={(v: number) => `${v}%`} />
              <Tooltip labelFormatter={(v) => new Date(Number(v)).toLocaleString()} formatter={(v, name) => [formatPercent(Number(v)), String(name)]} />
              <Legend wrapperStyle={{ fontSize: 12 }} />
              <Area type="monotone" dataKey="CPU" stroke="#6366f1" fill="#6366f1" fillOpacity={0.12} dot={rows.length < 3} isAnimationActive={false} />
              <Area type="monotone" dataKey="Memory" stroke="#10b981" fill="#10b981" fillOpacity={0.12} dot={rows.length < 3} isAnimationActive={false} />
            </AreaChart>
          </ResponsiveContainer>
        )}
      </div>
    </Card>
  );
}
