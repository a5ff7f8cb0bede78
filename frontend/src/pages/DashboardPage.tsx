import type { ReactNode } from "react";
import {
  Boxes,
  CircleStop,
  Cpu,
  Database,
  MemoryStick,
  Package,
  Play,
  Server,
} from "lucide-react";
import { Link } from "react-router";
import { useDashboardPrefs, type WidgetId } from "@/api/alerts";
import { useNodes, useSystemInfo, useSystemReplicas } from "@/api/queries";
import type { Node } from "@/api/types";
import {
  ActivityFeedCard,
  ChartsCard,
  CustomizeDashboard,
  FiringAlertsCard,
  FleetStats,
} from "@/components/dashboard/DashboardWidgets";
import { EmptyState } from "@/components/EmptyState";
import { EngineCard } from "@/components/EngineCard";
import { EngineUnreachable } from "@/components/EngineUnreachable";
import { ErrorState } from "@/components/ErrorState";
import { SchedulesCard } from "@/components/jobs/SchedulesCard";
import { KeyValueGrid } from "@/components/KeyValue";
import { CostCard } from "@/components/dashboard/CostCard";
import { FleetMetricsCard } from "@/components/metrics/FleetMetrics";
import { PageHeader } from "@/components/PageHeader";
import { NodeStatusPill } from "@/components/Pills";
import { StatCard } from "@/components/StatCard";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { formatBytes, formatCount, formatDateTime, formatUptime, formatUtc, replicaLabel } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";

export function pickLocalNode(nodes: Node[]): Node | undefined {
  return nodes.find((n) => n.kind === "local") ?? nodes[0];
}

function StatsGrid({ node, loading }: { node?: Node; loading?: boolean }) {
  const e = node?.engine;
  const up = e?.reachable ?? false;
  const v = (n: number | null | undefined) => (up ? formatCount(n) : "—");
  return (
    <div className="grid grid-cols-2 gap-3 sm:grid-cols-3 xl:grid-cols-6">
      <StatCard label="Running" icon={Play} accent="success" loading={loading} testId="stat-containers-running"
        value={v(e?.containers_running)} hint={up && e?.containers_paused ? `${e.containers_paused} paused` : "containers"} />
      <StatCard label="Stopped" icon={CircleStop} accent="muted" loading={loading} testId="stat-containers-stopped"
        value={v(e?.containers_stopped)} hint="containers" />
      <StatCard label="Total containers" icon={Boxes} loading={loading} testId="stat-containers-total"
        value={v(e?.containers)} hint="all states" />
      <StatCard label="Images" icon={Package} loading={loading} testId="stat-images" value={v(e?.images)} hint="on this node" />
      <StatCard label="CPUs" icon={Cpu} loading={loading} testId="stat-cpus" value={v(e?.cpus)} hint={up ? (e?.architecture ?? "") : ""} />
      <StatCard label="Memory" icon={MemoryStick} loading={loading} testId="stat-memory"
        value={up ? formatBytes(e?.memory_bytes) : "—"} hint="total" />
    </div>
  );
}

/** "1" for one server; with replicas, how many are live and which one answers. */
function replicasText(items: { alive: boolean; current: boolean; id: string }[] | undefined): string {
  if (!items) return "—";
  const live = items.filter((r) => r.alive);
  const current = items.find((r) => r.current);
  if (live.length <= 1) return String(Math.max(1, live.length));
  return `${live.length} live · this page from ${replicaLabel(current?.id)}`;
}

function ServerCard() {
  const info = useSystemInfo();
  const replicas = useSystemReplicas();
  return (
    <Card>
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <Database className="size-4 text-muted-foreground" /> Dockyard server
        </CardTitle>
        <CardDescription>This control plane</CardDescription>
      </CardHeader>
      <CardContent>
        {info.isPending ? (
          <div className="space-y-3 py-1">
            {Array.from({ length: 5 }, (_, i) => <Skeleton key={i} className="h-4 w-full" />)}
          </div>
        ) : info.isError ? (
          <p className="py-2 text-sm text-muted-foreground">Server details are unavailable right now.</p>
        ) : (
          <KeyValueGrid
            className="sm:grid-cols-1"
            items={[
              { label: "Version", value: info.data.version, mono: true, testId: "system-version" },
              { label: "Hostname", value: info.data.hostname, mono: true },
              { label: "Database", value: info.data.database === "postgresql" ? "PostgreSQL" : "SQLite" },
              { label: "Python", value: info.data.python, mono: true },
              {
                label: "Replicas",
                value: replicasText(replicas.data?.items),
                title: replicas.data?.items
                  .filter((r) => r.alive)
                  .map((r) => `${replicaLabel(r.id)} (${r.url}): ${r.agents} agents`)
                  .join("\n"),
                testId: "system-replicas",
              },
              {
                label: "Uptime",
                value: formatUptime(info.data.started_at),
                title: `${formatDateTime(info.data.started_at)} (${formatUtc(info.data.started_at)})`,
              },
            ]}
          />
        )}
      </CardContent>
    </Card>
  );
}

/** Chart cards two per row on wide screens; an odd last card takes the whole row. */
function ChartsRow({ cards }: { cards: ReactNode[] }) {
  const shown = cards.filter(Boolean);
  return (
    <div className="grid gap-5 xl:grid-cols-2">
      {shown.map((card, i) => (
        <div key={i} className={shown.length % 2 === 1 && i === shown.length - 1 ? "xl:col-span-2" : undefined}>
          {card}
        </div>
      ))}
    </div>
  );
}

const DEFAULT_ORDER: WidgetId[] = ["stats", "alerts", "charts", "nodes", "schedules", "activity"];

export function DashboardPage() {
  usePageTitle("Dashboard");
  const nodes = useNodes();
  // The audit log needs `audit:read`, alerts `alerts:read`: others do not get those cards.
  const canAudit = useCan("audit:read");
  const canJobs = useCan("jobs:read");
  const canAlerts = useCan("alerts:read");
  const canNodes = useCan("nodes:read");
  const canAnalytics = useCan("analytics:read");
  const prefs = useDashboardPrefs();
  const node = nodes.data ? pickLocalNode(nodes.data.items) : undefined;

  if (nodes.isError && !nodes.data) {
    return <ErrorState error={nodes.error} title="Couldn't load your nodes" onRetry={() => void nodes.refetch()} />;
  }

  if (nodes.data && !node) {
    return (
      <EmptyState
        icon={Server}
        title="No nodes registered"
        description="Dockyard has no Docker node yet. The local engine is added automatically when the server can reach its Docker socket."
      />
    );
  }

  const total = nodes.data?.items.length ?? 0;
  const online = nodes.data?.items.filter((n) => n.status === "online").length ?? 0;

  const widgets: Partial<Record<WidgetId, ReactNode>> = {
    stats: <FleetStats />,
    alerts: canAlerts ? <FiringAlertsCard /> : null,
    charts: <ChartsRow cards={[canNodes && <FleetMetricsCard key="fleet" />, <ChartsCard key="health" />, canAnalytics && <CostCard key="cost" />]} />,
    nodes: (
      <div className="space-y-5">
        <StatsGrid node={node} loading={nodes.isPending} />
        <div className="grid gap-5 lg:grid-cols-3">
          <div className="lg:col-span-2">
            {node ? (
              <EngineCard node={node} />
            ) : (
              <Card className="p-5">
                <Skeleton className="mb-1 h-4 w-32" />
                <Skeleton className="mb-5 h-3 w-40" />
                <div className="grid gap-x-8 gap-y-4 sm:grid-cols-2">
                  {Array.from({ length: 10 }, (_, i) => <Skeleton key={i} className="h-5 w-full" />)}
                </div>
              </Card>
            )}
          </div>
          <ServerCard />
        </div>
      </div>
    ),
    schedules: <SchedulesCard />,
    activity: canAudit || canJobs ? <ActivityFeedCard /> : null,
  };

  return (
    <div className="space-y-5">
      <PageHeader
        actions={<CustomizeDashboard prefs={prefs.data} />}
        description={
          node ? (
            <span className="flex flex-wrap items-center gap-2">
              <span>
                Node <Link to={`/nodes/${node.id}`} className="font-medium text-foreground hover:underline">{node.name}</Link>
              </span>
              <NodeStatusPill status={node.status} />
              {total > 1 && <span>· {online} of {total} nodes online</span>}
            </span>
          ) : (
            <Skeleton className="h-5 w-48" />
          )
        }
      />
      {node && !node.engine.reachable && <EngineUnreachable node={node} />}
      {(prefs.data?.widgets ?? DEFAULT_ORDER.map((id) => ({ id, visible: true })))
        .filter((w) => w.visible !== false)
        .map((w) => {
          const content = widgets[w.id];
          return content ? <div key={w.id} data-widget={w.id}>{content}</div> : null;
        })}
    </div>
  );
}
