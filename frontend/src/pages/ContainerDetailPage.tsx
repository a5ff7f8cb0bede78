import { useQuery } from "@tanstack/react-query";
import { ArrowLeft, FolderOpen, KeyRound, Loader2, RotateCw, ScrollText, SquareTerminal } from "lucide-react";
import { useMemo, type CSSProperties } from "react";
import { Link, useParams } from "react-router";
import { isApiError } from "@/api/errors";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid, type KeyValueItem } from "@/components/KeyValue";
import { ContainerMetrics } from "@/components/metrics/ContainerMetrics";
import { PortLinks, RelativeTime } from "@/components/services/ServiceBits";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { ansiCss, parseAnsi } from "@/lib/ansi";
import { formatLogTimestamp } from "@/lib/logs";
import { usePageTitle } from "@/lib/pageTitle";
import { cn } from "@/lib/utils";
import { fleetApi, fleetKeys, type ContainerDetail } from "./fleet/api";
import { ContainerStatePill } from "./fleet/ContainerBits";

const LOG_TAIL = 100;

function cmd(parts: readonly string[]): string {
  return parts.map((p) => (/[\s"']/.test(p) ? JSON.stringify(p) : p)).join(" ");
}

function Section({ title, children, count, testId }: { title: string; children: React.ReactNode; count?: number; testId?: string }) {
  return (
    <Card data-testid={testId}>
      <CardHeader className="pb-2">
        <CardTitle className="flex items-center gap-2 text-base">
          {title}
          {count !== undefined && <span className="text-sm font-normal text-muted-foreground">{count}</span>}
        </CardTitle>
      </CardHeader>
      <CardContent>{children}</CardContent>
    </Card>
  );
}

function None({ what }: { what: string }) {
  return <p className="text-sm text-muted-foreground">No {what}.</p>;
}

function overview(c: ContainerDetail): KeyValueItem[] {
  const s = c.state;
  const items: KeyValueItem[] = [
    { label: "ID", value: c.id.slice(0, 12), mono: true, title: c.id, testId: "container-id" },
    { label: "Image", value: c.config.image, mono: true },
    { label: "Created", value: <RelativeTime iso={c.created} /> },
    { label: s.running ? "Started" : "Last started", value: <RelativeTime iso={s.started_at} /> },
  ];
  if (!s.running && s.finished_at) items.push({ label: "Finished", value: <RelativeTime iso={s.finished_at} /> });
  if (s.exit_code !== null && s.exit_code !== undefined) items.push({ label: "Exit code", value: String(s.exit_code), mono: true });
  if (s.health) items.push({ label: "Health", value: s.health });
  items.push({ label: "Restarts", value: String(s.restart_count) });
  items.push({ label: "Restart policy", value: c.config.restart_policy ?? "—" });
  if (s.oom_killed) items.push({ label: "OOM killed", value: "yes" });
  if (s.error) items.push({ label: "Error", value: s.error });
  items.push({ label: "Command", value: c.config.command.length ? cmd(c.config.command) : "—", mono: true });
  if (c.config.entrypoint.length) items.push({ label: "Entrypoint", value: cmd(c.config.entrypoint), mono: true });
  if (c.config.working_dir) items.push({ label: "Working dir", value: c.config.working_dir, mono: true });
  if (c.config.user) items.push({ label: "User", value: c.config.user, mono: true });
  if (c.config.hostname) items.push({ label: "Hostname", value: c.config.hostname, mono: true });
  if (c.compose_project) items.push({ label: "Compose project", value: c.compose_service ? `${c.compose_project} / ${c.compose_service}` : c.compose_project });
  return items;
}

function RecentLogs({ nodeId, containerId, name }: { nodeId: number; containerId: string; name: string }) {
  const logs = useQuery({
    queryKey: fleetKeys.logs(nodeId, containerId, LOG_TAIL),
    queryFn: ({ signal }) => fleetApi.logs(nodeId, containerId, LOG_TAIL, signal),
    refetchOnWindowFocus: false,
  });
  const lines = useMemo(
    () => (logs.data?.lines ?? []).map((l, i) => ({ key: i, ts: l.ts ?? null, stream: l.stream, segments: parseAnsi(l.message.replace(/\n$/, "")) })),
    [logs.data],
  );
  return (
    <Card data-testid="container-logs">
      <CardHeader className="flex flex-row items-center justify-between gap-2 pb-2">
        <CardTitle className="text-base">Last {LOG_TAIL} log lines</CardTitle>
        <div className="flex items-center gap-2">
          <Button variant="outline" size="sm" asChild>
            <Link to={`/logs?node=${nodeId}&container=${encodeURIComponent(name)}`}>
              <ScrollText /> Search logs
            </Link>
          </Button>
          <Button variant="outline" size="sm" onClick={() => void logs.refetch()} disabled={logs.isFetching} aria-label="Reload logs">
            <RotateCw className={cn(logs.isFetching && "animate-spin")} />
          </Button>
        </div>
      </CardHeader>
      <CardContent>
        <div className="max-h-[28rem] overflow-auto rounded-lg border border-zinc-800 bg-zinc-950 py-2 font-mono text-[12.5px] leading-5 text-zinc-200" role="log" aria-label={`Logs of ${name}`} tabIndex={0}>
          {logs.isPending ? (
            <p className="flex items-center gap-2 px-3 text-zinc-500">
              <Loader2 className="size-3.5 animate-spin" /> Loading logs…
            </p>
          ) : logs.isError ? (
            <p className="px-3 text-red-400">Couldn't load the logs: {logs.error.message}</p>
          ) : lines.length === 0 ? (
            <p className="px-3 text-zinc-500">No log output.</p>
          ) : (
            lines.map((l) => (
              <div key={l.key} className={cn("flex gap-3 px-3 whitespace-pre-wrap break-all hover:bg-white/[0.04]", l.stream === "stderr" && "border-l-2 border-red-500/60 pl-[10px]")} data-testid="log-line">
                {l.ts && (
                  <span className="shrink-0 text-zinc-500 select-none" title={l.ts}>
                    {formatLogTimestamp(l.ts)}
                  </span>
                )}
                <span className="min-w-0">
                  {l.segments.map((s, i) => (
                    <span key={i} style={ansiCss(s.style) as CSSProperties | undefined}>
                      {s.text}
                    </span>
                  ))}
                </span>
              </div>
            ))
          )}
        </div>
      </CardContent>
    </Card>
  );
}

export function ContainerDetailPage() {
  const params = useParams();
  const nodeId = Number(params.nodeId);
  const containerId = params.containerId ?? "";
  const detail = useQuery({
    queryKey: fleetKeys.container(nodeId, containerId),
    queryFn: ({ signal }) => fleetApi.detail(nodeId, containerId, signal),
    enabled: Number.isInteger(nodeId) && nodeId > 0 && Boolean(containerId),
    refetchInterval: 15_000,
    meta: { toast: (err: unknown) => !(isApiError(err) && err.status === 404) },
  });
  const c = detail.data;
  usePageTitle(c ? c.name : "Container");

  const back = (
    <Link to="/containers" className="inline-flex items-center gap-1 text-sm text-muted-foreground hover:text-foreground">
      <ArrowLeft className="size-4" /> Containers
    </Link>
  );
  if (detail.isPending) {
    return (
      <div className="space-y-4">
        {back}
        <Skeleton className="h-8 w-72" />
        <Skeleton className="h-64 w-full" />
      </div>
    );
  }
  if (detail.isError || !c) {
    return (
      <div className="space-y-4">
        {back}
        <ErrorState error={detail.error} title={isApiError(detail.error) && detail.error.status === 404 ? "Container not found" : "Couldn't load this container"} onRetry={() => void detail.refetch()} />
      </div>
    );
  }
  const canExec = c.access.exec && c.service_id != null;

  return (
    <div className="space-y-5" data-testid="container-detail">
      <div className="space-y-2">
        {back}
        <div className="flex flex-wrap items-start justify-between gap-3">
          <div className="min-w-0 space-y-1.5">
            <h1 className="flex flex-wrap items-center gap-2 text-xl font-semibold">
              <span className="break-all" data-testid="container-title">
                {c.name}
              </span>
              <ContainerStatePill state={c.state.status} status={c.state.running ? (c.state.health ? `Up (${c.state.health})` : "Up") : c.state.status === "exited" ? `Exited (${c.state.exit_code ?? 0})` : c.state.status} />
            </h1>
            <p className="flex flex-wrap items-center gap-x-3 gap-y-1 text-sm text-muted-foreground">
              <span>
                on{" "}
                <Link to={`/nodes/${c.node_id}`} className="font-medium text-foreground hover:underline">
                  {c.node_name}
                </Link>
              </span>
              {c.service_id != null ? (
                <span>
                  service{" "}
                  <Link to={`/services/${c.service_id}`} className="font-medium text-foreground hover:underline" data-testid="container-service-link">
                    {c.service_name}
                  </Link>
                </span>
              ) : (
                <Badge tone="neutral">not managed by Dockyard</Badge>
              )}
            </p>
          </div>
          {canExec && (
            <div className="flex flex-wrap gap-2">
              <Button variant="outline" size="sm" asChild>
                <Link to={`/services/${c.service_id}/terminal`} data-testid="container-terminal-link">
                  <SquareTerminal /> Terminal
                </Link>
              </Button>
              <Button variant="outline" size="sm" asChild>
                <Link to={`/services/${c.service_id}/files`} data-testid="container-files-link">
                  <FolderOpen /> Files
                </Link>
              </Button>
            </div>
          )}
        </div>
      </div>

      <Section title="Overview" testId="container-overview">
        <KeyValueGrid items={overview(c)} />
      </Section>

      <ContainerMetrics nodeId={c.node_id} containerId={c.id} />

      <div className="grid gap-5 xl:grid-cols-2">
        <Section title="Ports" count={c.ports.length}>
          {c.ports.length === 0 ? (
            <None what="ports" />
          ) : (
            <div className="space-y-2">
              <PortLinks ports={c.ports} max={20} />
              <ul className="font-mono text-xs text-muted-foreground">
                {c.ports.map((p, i) => (
                  <li key={i}>
                    {p.host_port ? `${p.host_ip ?? "0.0.0.0"}:${p.host_port} → ` : ""}
                    {p.container_port}/{p.protocol}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </Section>
        <Section title="Networks" count={c.networks.length}>
          {c.networks.length === 0 ? (
            <None what="networks" />
          ) : (
            <Table>
              <TableHeader>
                <TableRow className="hover:bg-transparent">
                  <TableHead>Name</TableHead>
                  <TableHead>IP address</TableHead>
                  <TableHead>Aliases</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {c.networks.map((n) => (
                  <TableRow key={n.name}>
                    <TableCell className="font-medium">{n.name}</TableCell>
                    <TableCell className="font-mono text-xs">{n.ip_address ?? "—"}</TableCell>
                    <TableCell className="text-xs text-muted-foreground">{n.aliases.join(", ") || "—"}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </Section>
      </div>

      <Section title="Mounts" count={c.mounts.length}>
        {c.mounts.length === 0 ? (
          <None what="mounts" />
        ) : (
          <Table>
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Type</TableHead>
                <TableHead>Source</TableHead>
                <TableHead>Destination</TableHead>
                <TableHead>Mode</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {c.mounts.map((m) => (
                <TableRow key={m.destination}>
                  <TableCell>{m.type}</TableCell>
                  <TableCell className="max-w-80 font-mono text-xs break-all">{m.name ?? m.source ?? "—"}</TableCell>
                  <TableCell className="font-mono text-xs break-all">{m.destination}</TableCell>
                  <TableCell>{m.read_only ? <Badge tone="neutral">read-only</Badge> : "read-write"}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </Section>

      <div className="grid gap-5 xl:grid-cols-2">
        <Section title="Environment" count={c.config.env.length} testId="container-env">
          {c.config.env.length === 0 ? (
            <None what="environment variables" />
          ) : (
            <dl className="divide-y divide-border/60 font-mono text-xs">
              {c.config.env.map((e) => (
                <div key={e.name} className="flex gap-3 py-1.5">
                  <dt className="w-2/5 shrink-0 font-medium break-all">{e.name}</dt>
                  <dd className={cn("min-w-0 break-all", e.masked && "text-muted-foreground")} data-masked={e.masked || undefined}>
                    {e.masked && <KeyRound className="mr-1 inline size-3" aria-label="masked secret" />}
                    {e.value || <span className="text-muted-foreground">(empty)</span>}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </Section>
        <Section title="Labels" count={Object.keys(c.labels).length}>
          {Object.keys(c.labels).length === 0 ? (
            <None what="labels" />
          ) : (
            <dl className="max-h-96 divide-y divide-border/60 overflow-auto font-mono text-xs">
              {Object.entries(c.labels)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => (
                  <div key={k} className="flex gap-3 py-1.5">
                    <dt className="w-2/5 shrink-0 break-all text-muted-foreground">{k}</dt>
                    <dd className="min-w-0 break-all">{v}</dd>
                  </div>
                ))}
            </dl>
          )}
        </Section>
      </div>

      {c.access.logs && <RecentLogs nodeId={c.node_id} containerId={c.id} name={c.name} />}
    </div>
  );
}
