import { AlertTriangle, Box, Cpu, Info, Rocket, Tag } from "lucide-react";
import { useEffect, useState } from "react";
import type { ContainerOut, ServiceDetail } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { KeyValueGrid } from "@/components/KeyValue";
import { PortLinks, RelativeTime } from "@/components/services/ServiceBits";
import { TemplateUpdateBanner } from "@/components/TemplateUpdateBanner";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatBytes, formatDateTime, formatUptime, formatUtc } from "@/lib/format";
import { shortContainerName } from "@/lib/logs";
import { useMediaQuery } from "@/lib/useMediaQuery";
import { cn } from "@/lib/utils";
import { PlacementExplanationView, type ExplanationLike } from "@/pages/placement/PlacementExplanationView";

/** Re-renders every `ms` so uptimes tick. */
function useNow(ms = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function ContainerState({ c }: { c: ContainerOut }) {
  const tone =
    c.state === "running"
      ? c.health === "unhealthy"
        ? "danger"
        : "success"
      : c.state === "restarting" || c.state === "paused" || c.state === "created"
        ? "warning"
        : c.state === "exited" && c.exit_code !== 0 && c.exit_code !== null
          ? "danger"
          : "neutral";
  return (
    <span className="flex flex-wrap items-center gap-1">
      <Badge tone={tone} data-testid="container-state" data-state={c.state}>
        {c.state}
        {c.state === "exited" && c.exit_code !== null && <span className="font-mono opacity-80">({c.exit_code})</span>}
      </Badge>
      {c.health && c.health !== "none" && (
        <Badge tone={c.health === "healthy" ? "success" : c.health === "unhealthy" ? "danger" : "warning"} title="Health check">
          {c.health}
        </Badge>
      )}
    </span>
  );
}

function uptime(c: ContainerOut, now: number): string {
  if (c.state === "running" || c.state === "restarting") return formatUptime(c.started_at, now);
  return "—";
}

function ContainersCard({ service }: { service: ServiceDetail }) {
  const isWide = useMediaQuery("(min-width: 768px)");
  const now = useNow();
  const containers = service.containers;
  return (
    <Card>
      <CardHeader className="flex-row items-center justify-between">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2">
            <Box className="size-4 text-muted-foreground" /> Containers
          </CardTitle>
          <CardDescription>
            {service.containers_running} of {service.containers_total} running
          </CardDescription>
        </div>
      </CardHeader>
      {containers.length === 0 ? (
        <CardContent>
          <EmptyState
            icon={Rocket}
            title={service.deployed_revision == null ? "Not deployed yet" : "No containers"}
            description={
              service.deployed_revision == null
                ? "Deploy the service to create its containers."
                : "The containers of this service are gone. Deploy again to recreate them."
            }
            className="py-10"
          />
        </CardContent>
      ) : isWide ? (
        <Table data-testid="containers-table" wrapperClassName="border-t">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Container</TableHead>
              <TableHead>State</TableHead>
              <TableHead className="text-right">Restarts</TableHead>
              <TableHead>Uptime</TableHead>
              <TableHead>Ports</TableHead>
              <TableHead>Image</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {containers.map((c) => (
              <TableRow key={c.id} data-testid="container-row" data-container={c.name}>
                <TableCell>
                  <div className="font-medium">{shortContainerName(c.name, service.name)}</div>
                  <div className="font-mono text-[11px] whitespace-nowrap text-muted-foreground" title={c.id}>
                    {c.service ? `${c.service} · ` : ""}
                    {c.id.slice(0, 12)}
                    {c.revision != null && c.revision !== service.deployed_revision && (
                      <span className="ml-1 text-amber-700 dark:text-amber-400" title="Created from another revision">
                        r{c.revision}
                      </span>
                    )}
                  </div>
                </TableCell>
                <TableCell>
                  <ContainerState c={c} />
                </TableCell>
                <TableCell className={cn("text-right tabular-nums", c.restart_count > 0 && "text-amber-700 dark:text-amber-400")}>{c.restart_count}</TableCell>
                <TableCell className="whitespace-nowrap tabular-nums" title={c.started_at ? `Started ${formatDateTime(c.started_at)}` : undefined}>
                  {uptime(c, now)}
                </TableCell>
                <TableCell className="max-w-56">
                  <PortLinks ports={c.ports} />
                </TableCell>
                <TableCell className="max-w-64">
                  <span className="block truncate font-mono text-[12px]" title={`${c.image}${c.image_id ? `\n${c.image_id}` : ""}`}>
                    {c.image}
                  </span>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : (
        <ul className="divide-y border-t" data-testid="containers-table">
          {containers.map((c) => (
            <li key={c.id} className="space-y-2 px-5 py-3" data-testid="container-row" data-container={c.name}>
              <div className="flex items-start justify-between gap-2">
                <div className="min-w-0">
                  <p className="truncate font-medium">{shortContainerName(c.name, service.name)}</p>
                  <p className="truncate font-mono text-[11px] text-muted-foreground">{c.image}</p>
                </div>
                <ContainerState c={c} />
              </div>
              <div className="flex flex-wrap items-center gap-x-4 gap-y-1 text-xs text-muted-foreground">
                <span>Up {uptime(c, now)}</span>
                <span>{c.restart_count} restarts</span>
              </div>
              <PortLinks ports={c.ports} />
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

interface Limits {
  name: string;
  image: string;
  cpus: number | null;
  mem: number | null;
  pids: number | null;
  restart: string;
}

export function resourceLimits(definition: Record<string, unknown>): Limits[] {
  const services = definition.services;
  if (typeof services !== "object" || services === null) return [];
  return Object.entries(services as Record<string, Record<string, unknown>>).map(([name, spec]) => ({
    name,
    image: typeof spec?.image === "string" ? spec.image : "",
    cpus: typeof spec?.cpus === "number" ? spec.cpus : null,
    mem: typeof spec?.mem_limit === "number" ? spec.mem_limit : null,
    pids: typeof spec?.pids_limit === "number" ? spec.pids_limit : null,
    restart: typeof spec?.restart === "string" ? spec.restart : "no",
  }));
}

function ResourcesCard({ service }: { service: ServiceDetail }) {
  const limits = resourceLimits(service.definition);
  if (limits.length === 0) return null;
  return (
    <Card>
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <Cpu className="size-4 text-muted-foreground" /> Resources
        </CardTitle>
        <CardDescription>Limits from revision {service.revision}</CardDescription>
      </CardHeader>
      <CardContent className="space-y-3">
        {limits.map((l) => (
          <div key={l.name} className="rounded-md border p-3" data-testid="resource-limits">
            <div className="flex items-baseline justify-between gap-2">
              <p className="font-medium">{l.name}</p>
              <span className="text-xs text-muted-foreground">restart: {l.restart}</span>
            </div>
            <dl className="mt-2 grid grid-cols-3 gap-2 text-xs">
              <div>
                <dt className="text-muted-foreground">CPUs</dt>
                <dd className={cn("mt-0.5 tabular-nums", l.cpus === null && "text-muted-foreground")}>{l.cpus ?? "no limit"}</dd>
              </div>
              <div>
                <dt className="text-muted-foreground">Memory</dt>
                <dd className={cn("mt-0.5 tabular-nums", l.mem === null && "text-muted-foreground")}>{l.mem === null ? "no limit" : formatBytes(l.mem)}</dd>
              </div>
              <div>
                <dt className="text-muted-foreground">PIDs</dt>
                <dd className={cn("mt-0.5 tabular-nums", l.pids === null && "text-muted-foreground")}>{l.pids ?? "no limit"}</dd>
              </div>
            </dl>
          </div>
        ))}
      </CardContent>
    </Card>
  );
}

export function OverviewTab({ service, nodeName }: { service: ServiceDetail; nodeName: string }) {
  const labels = Object.entries(service.labels);
  return (
    <div className="space-y-5">
      <TemplateUpdateBanner serviceId={service.id} />
      {service.drift && (
        <div
          role="status"
          className="flex gap-3 rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-800/70 dark:bg-amber-950/40 dark:text-amber-100"
          data-testid="drift-reasons"
        >
          <AlertTriangle className="mt-0.5 size-5 shrink-0 text-amber-600 dark:text-amber-400" />
          <div className="min-w-0 space-y-1">
            <p className="font-semibold">What runs differs from what is saved</p>
            <ul className="list-disc space-y-0.5 pl-4 text-sm">
              {service.drift_reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
            <p className="text-xs text-amber-800/90 dark:text-amber-200/80">Deploy to bring the containers in line with revision {service.revision}.</p>
          </div>
        </div>
      )}
      <div className="grid gap-5 xl:grid-cols-3">
        <div className="min-w-0 xl:col-span-2">
          <ContainersCard service={service} />
        </div>
        <div className="space-y-5">
          <Card>
            <CardHeader>
              <CardTitle className="flex items-center gap-2">
                <Info className="size-4 text-muted-foreground" /> Details
              </CardTitle>
            </CardHeader>
            <CardContent className="space-y-3">
              {service.description ? (
                <p className="text-sm whitespace-pre-wrap" data-testid="service-description">
                  {service.description}
                </p>
              ) : (
                <p className="text-sm text-muted-foreground">No description.</p>
              )}
              <KeyValueGrid
                className="sm:grid-cols-1"
                items={[
                  { label: "Node", value: nodeName },
                  { label: "Latest revision", value: `r${service.revision}` },
                  { label: "Deployed revision", value: service.deployed_revision != null ? `r${service.deployed_revision}` : "—" },
                  { label: "Deployed", value: service.deployed_at ? <RelativeTime iso={service.deployed_at} /> : "—" },
                  { label: "Created", value: <RelativeTime iso={service.created_at} />, title: formatUtc(service.created_at) },
                  { label: "ID", value: String(service.id), mono: true },
                ]}
              />
              {labels.length > 0 && (
                <div>
                  <p className="mb-1.5 flex items-center gap-1.5 text-xs text-muted-foreground">
                    <Tag className="size-3.5" /> Labels
                  </p>
                  <div className="flex flex-wrap gap-1.5">
                    {labels.map(([k, v]) => (
                      <Badge key={k} tone="mono" className="max-w-full truncate" title={`${k}=${v}`}>
                        {k}={v}
                      </Badge>
                    ))}
                  </div>
                </div>
              )}
            </CardContent>
          </Card>
          <ResourcesCard service={service} />
          {service.placement && (
            <Card data-testid="service-placement">
              <CardHeader>
                <CardTitle>Placement</CardTitle>
              </CardHeader>
              <CardContent>
                <PlacementExplanationView explanation={service.placement as ExplanationLike} />
              </CardContent>
            </Card>
          )}
        </div>
      </div>
    </div>
  );
}
