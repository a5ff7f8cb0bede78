import { Coins } from "lucide-react";
import { useMemo } from "react";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatCost, useCost } from "@/api/mcp";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";

/** The last 7 days as an analytics range, whole days in UTC (stable between renders). */
export function lastWeekRange(now: Date = new Date()): { since: string; until: string } {
  const end = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  const start = new Date(end.getTime() - 7 * 24 * 3600 * 1000);
  return { since: start.toISOString(), until: end.toISOString() };
}

/** MCP usage cost per day over the last week, with today's cost and the week's total. */
export function CostCard() {
  const range = useMemo(() => lastWeekRange(), []);
  const cost = useCost(range);
  const data = (cost.data?.per_day ?? []).map((d) => ({ day: d.day.slice(5), Cost: d.cost, Queries: d.queries }));
  return (
    <Card data-testid="dashboard-cost">
      <CardHeader className="border-b pb-3">
        <CardTitle className="flex items-center gap-2">
          <Coins className="size-4 text-muted-foreground" /> Usage cost, last 7 days
        </CardTitle>
        <CardDescription>
          {cost.data
            ? `Today ${formatCost(cost.data.cost_today)} · week ${formatCost(cost.data.total)}`
            : "MCP tool calls reported to the usage API"}
        </CardDescription>
      </CardHeader>
      <div className="h-56 px-2 py-3">
        {cost.isPending ? (
          <Skeleton className="h-full w-full" />
        ) : cost.isError ? (
          <p className="p-4 text-sm text-muted-foreground">Couldn't load the usage cost.</p>
        ) : data.length === 0 ? (
          <p className="p-4 text-sm text-muted-foreground">No usage reported in the last 7 days.</p>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={data} margin={{ left: 0, right: 8 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} className="stroke-border" />
              <XAxis dataKey="day" tick={{ fontSize: 11 }} />
              <YAxis width={72} tick={{ fontSize: 11 }} tickFormatter={(v: number) => formatCost(v)} />
              <Tooltip formatter={(v) => formatCost(Number(v))} />
              <Bar dataKey="Cost" fill="#6366f1" />
            </BarChart>
          </ResponsiveContainer>
        )}
      </div>
    </Card>
  );
}
