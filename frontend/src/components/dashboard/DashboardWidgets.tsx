/** Dashboard widgets backed by /api/v1/dashboard/* and /api/v1/alerts (kept live by realtime events). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import {
  Activity,
  ArrowDown,
  ArrowRight,
  ArrowUp,
  BellRing,
  Boxes,
  Cpu,
  HeartPulse,
  MemoryStick,
  PackageCheck,
  Server,
  SlidersHorizontal,
} from "lucide-react";
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { toast } from "sonner";
import {
  dashboardApi,
  dashboardKeys,
  useAlerts,
  useDashboardActivity,
  useDashboardSeries,
  useDashboardSummary,
  type DashboardPrefs,
  type WidgetId,
} from "@/api/alerts";
import { StatCard } from "@/components/StatCard";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Skeleton } from "@/components/ui/skeleton";
import { formatRelative, formatUtc } from "@/lib/format";

const pct = (v: number | null | undefined) => (v == null ? "—" : `${Math.round(v)}%`);

export function FleetStats() {
  const s = useDashboardSummary();
  const d = s.data;
  const loading = s.isPending;
  return (
    <div className="grid grid-cols-2 gap-3 sm:grid-cols-4 xl:grid-cols-7" data-testid="fleet-stats">
      <StatCard label="Services up" icon={Boxes} accent="success" loading={loading} testId="hero-services-running"
        value={d ? `${d.services_running}/${d.services_total}` : "—"} hint={d && d.services_stopped ? `${d.services_stopped} down` : "all services"} />
      <StatCard label="Unhealthy" icon={HeartPulse} accent={d && d.services_unhealthy ? undefined : "muted"} loading={loading} testId="hero-unhealthy"
        value={d ? String(d.services_unhealthy) : "—"} hint="services" />
      <StatCard label="Nodes online" icon={Server} loading={loading} testId="hero-nodes"
        value={d ? `${d.nodes_online}/${d.nodes_total}` : "—"} hint="Docker engines" />
      <StatCard label="Updates" icon={PackageCheck} loading={loading} testId="hero-updates"
        value={d ? String(d.updates_available) : "—"} hint="services" />
      <StatCard label="Alerts" icon={BellRing} accent={d && d.alerts_firing ? undefined : "muted"} loading={loading} testId="hero-alerts"
        value={d ? String(d.alerts_firing) : "—"} hint="firing" />
      <StatCard label="CPU" icon={Cpu} accent="muted" loading={loading} testId="hero-cpu" value={pct(d?.fleet_cpu_pct)}
        hint={d?.fleet_cpu_pct == null ? "not collected" : "fleet average"} />
      <StatCard label="Memory" icon={MemoryStick} accent="muted" loading={loading} testId="hero-memory" value={pct(d?.fleet_memory_pct)}
        hint={d?.fleet_memory_pct == null ? "not collected" : "fleet average"} />
    </div>
  );
}

export function FiringAlertsCard() {
  const alerts = useAlerts("firing");
  return (
    <Card data-testid="firing-alerts">
      <CardHeader className="flex-row items-center justify-between border-b pb-3">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2"><BellRing className="size-4 text-muted-foreground" /> Firing alerts</CardTitle>
          <CardDescription>{alerts.data ? `${alerts.data.firing} firing` : "Loading…"}</CardDescription>
        </div>
        <Button asChild variant="ghost" size="sm"><Link to="/alerts">All alerts <ArrowRight /></Link></Button>
      </CardHeader>
      {alerts.isPending ? (
        <div className="space-y-2 px-5 py-4">{Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-6 w-full" />)}</div>
      ) : alerts.isError || alerts.data.items.length === 0 ? (
        <p className="px-5 py-6 text-sm text-muted-foreground">{alerts.isError ? "Alerts could not be loaded." : "Nothing is firing."}</p>
      ) : (
        <ul className="divide-y">
          {alerts.data.items.slice(0, 6).map((a) => (
            <li key={a.id} className="flex items-center gap-3 px-5 py-2.5 text-sm" data-testid="firing-alert">
              <Badge tone="danger">firing</Badge>
              <span className="min-w-0 flex-1 truncate" title={a.summary}>{a.summary}</span>
              <span className="shrink-0 text-xs text-muted-foreground" title={formatUtc(a.started_at)}>{formatRelative(a.started_at)}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export function ChartsCard() {
  const series = useDashboardSeries();
  const data = (series.data?.points ?? []).map((p) => ({
    hour: new Date(p.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    Fired: p.fired,
    Resolved: p.resolved,
    "Jobs failed": p.jobs_failed,
  }));
  return (
    <Card data-testid="dashboard-charts">
      <CardHeader className="border-b pb-3">
        <CardTitle className="flex items-center gap-2"><Activity className="size-4 text-muted-foreground" /> Health over 24 hours</CardTitle>
        <CardDescription>Alerts fired and resolved, and failed jobs, per hour</CardDescription>
      </CardHeader>
      <div className="h-56 px-2 py-3">
        {series.isPending ? (
          <Skeleton className="h-full w-full" />
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={data} margin={{ left: -20, right: 8 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} className="stroke-border" />
              <XAxis dataKey="hour" tick={{ fontSize: 11 }} interval={3} />
              <YAxis allowDecimals={false} tick={{ fontSize: 11 }} />
              <Tooltip />
              <Legend wrapperStyle={{ fontSize: 12 }} />
              <Bar dataKey="Fired" stackId="a" fill="#ef4444" />
              <Bar dataKey="Resolved" stackId="b" fill="#10b981" />
              <Bar dataKey="Jobs failed" stackId="c" fill="#f59e0b" />
            </BarChart>
          </ResponsiveContainer>
        )}
      </div>
    </Card>
  );
}

export function ActivityFeedCard() {
  const feed = useDashboardActivity();
  return (
    <Card data-testid="recent-activity">
      <CardHeader className="flex-row items-center justify-between border-b pb-3">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2"><Activity className="size-4 text-muted-foreground" /> Recent activity</CardTitle>
          <CardDescription>Audit events and jobs, live</CardDescription>
        </div>
        <Button asChild variant="ghost" size="sm">
          <Link to="/audit" data-testid="recent-activity-link">View audit log <ArrowRight /></Link>
        </Button>
      </CardHeader>
      {feed.isPending ? (
        <div className="space-y-3 px-5 py-4">{Array.from({ length: 5 }, (_, i) => <Skeleton key={i} className="h-6 w-full" />)}</div>
      ) : feed.isError ? (
        <p className="px-5 py-6 text-sm text-muted-foreground">Recent activity could not be loaded.</p>
      ) : feed.data.items.length === 0 ? (
        <p className="px-5 py-6 text-sm text-muted-foreground">No activity recorded yet.</p>
      ) : (
        <ul className="divide-y">
          {feed.data.items.map((i) => (
            <li key={i.id} className="flex items-center gap-3 px-5 py-2 text-sm" data-testid="recent-activity-item">
              <Badge tone={i.kind === "job" ? "accent" : "neutral"}>{i.kind}</Badge>
              <span className="font-mono text-xs">{i.title}</span>
              <Badge tone={i.outcome === "success" || i.outcome === "succeeded" ? "success" : i.outcome === "failure" || i.outcome === "failed" || i.outcome === "denied" ? "danger" : "neutral"}>
                {i.outcome}
              </Badge>
              <span className="min-w-0 flex-1 truncate text-xs text-muted-foreground">{[i.actor, i.target].filter(Boolean).join(" · ")}</span>
              <span className="shrink-0 text-xs text-muted-foreground" title={formatUtc(i.ts)}>{formatRelative(i.ts)}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export const WIDGET_LABELS: Record<WidgetId, string> = {
  stats: "Fleet stats",
  alerts: "Firing alerts",
  charts: "Health chart",
  nodes: "Node and server",
  schedules: "Schedules",
  activity: "Recent activity",
};

export function CustomizeDashboard({ prefs }: { prefs: DashboardPrefs | undefined }) {
  const [open, setOpen] = useState(false);
  const [widgets, setWidgets] = useState<DashboardPrefs["widgets"]>([]);
  const qc = useQueryClient();
  useEffect(() => {
    if (open && prefs) setWidgets(prefs.widgets.map((w) => ({ id: w.id, visible: w.visible ?? true })));
  }, [open, prefs]);
  const save = useMutation({
    mutationFn: () => dashboardApi.savePrefs({ widgets }),
    onSuccess: (saved) => {
      qc.setQueryData(dashboardKeys.prefs(), saved);
      toast("Dashboard saved");
      setOpen(false);
    },
  });
  const move = (i: number, d: -1 | 1) =>
    setWidgets((ws) => {
      const next = [...ws];
      const j = i + d;
      const a = next[i];
      const b = next[j];
      if (a === undefined || b === undefined) return ws;
      next[i] = b;
      next[j] = a;
      return next;
    });
  return (
    <>
      <Button variant="outline" size="sm" onClick={() => setOpen(true)} disabled={!prefs} data-testid="dashboard-customize">
        <SlidersHorizontal /> Customize
      </Button>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogContent className="sm:max-w-sm">
          <DialogHeader>
            <DialogTitle>Customize dashboard</DialogTitle>
            <DialogDescription>Order and visibility are saved to your account.</DialogDescription>
          </DialogHeader>
          <DialogBody>
            <ul className="space-y-1">
              {widgets.map((w, i) => (
                <li key={w.id} className="flex items-center gap-2 rounded-md border px-3 py-1.5 text-sm" data-testid={`widget-pref-${w.id}`}>
                  <Checkbox
                    checked={w.visible ?? true}
                    aria-label={`Show ${WIDGET_LABELS[w.id]}`}
                    onChange={(e) => setWidgets((ws) => ws.map((x) => (x.id === w.id ? { ...x, visible: e.target.checked } : x)))}
                  />
                  <span className="flex-1">{WIDGET_LABELS[w.id]}</span>
                  <Button type="button" size="icon" variant="ghost" aria-label="Move up" disabled={i === 0} onClick={() => move(i, -1)}><ArrowUp /></Button>
                  <Button type="button" size="icon" variant="ghost" aria-label="Move down" disabled={i === widgets.length - 1} onClick={() => move(i, 1)}><ArrowDown /></Button>
                </li>
              ))}
            </ul>
          </DialogBody>
          <DialogFooter>
            <Button variant="ghost" onClick={() => setOpen(false)}>Cancel</Button>
            <Button onClick={() => save.mutate()} disabled={save.isPending} data-testid="dashboard-prefs-save">Save</Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </>
  );
}
