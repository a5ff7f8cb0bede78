import { FileUp, FilterX, HandHelping, Layers, Plus, Search, SearchX } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useMe, useNodes } from "@/api/queries";
import { usePollInterval } from "@/api/realtimeQueries";
import { useServices } from "@/api/serviceQueries";
import type { ServiceOut } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { ServiceRowActions } from "@/components/services/ServiceActions";
import { ActiveJobSpinner, DriftBadge, ImageList, PortLinks, RelativeTime, ServiceStatusPill } from "@/components/services/ServiceBits";
import { UpdateAvailableBadge } from "@/components/services/UpdateCheck";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { usePageTitle } from "@/lib/pageTitle";
import { hasPermission } from "@/lib/permissions";
import { activeJob, matchesStatusFilter, parseStatusFilter, SERVICE_STATUSES, statusView, type StatusFilter } from "@/lib/serviceStatus";
import { useMediaQuery } from "@/lib/useMediaQuery";
import { cn } from "@/lib/utils";

const SEARCH_DEBOUNCE_MS = 300;

function useNodeNames(): { nodeName: (id: number) => string; multiNode: boolean } {
  const nodes = useNodes();
  const byId = useMemo(() => new Map((nodes.data?.items ?? []).map((n) => [n.id, n.name])), [nodes.data]);
  return { nodeName: (id) => byId.get(id) ?? `node ${id}`, multiNode: byId.size > 1 };
}

function Containers({ s }: { s: ServiceOut }) {
  if (s.containers_total === 0) return <span className="text-muted-foreground">—</span>;
  const all = s.containers_running === s.containers_total;
  return (
    <span className={cn("tabular-nums", !all && "text-amber-700 dark:text-amber-400")} title={`${s.containers_running} of ${s.containers_total} containers running`}>
      {s.containers_running}/{s.containers_total}
    </span>
  );
}

function NameCell({ s }: { s: ServiceOut }) {
  const job = activeJob(s);
  return (
    <div className="flex min-w-0 items-center gap-2">
      <div className="min-w-0">
        <Link
          to={`/services/${s.id}`}
          className="font-medium hover:underline focus-visible:underline"
          data-testid="service-name-link"
          onClick={(e) => e.stopPropagation()}
        >
          {s.name}
        </Link>
        {s.description && (
          <p className="max-w-44 truncate text-xs text-muted-foreground" title={s.description}>
            {s.description}
          </p>
        )}
      </div>
      {job && <ActiveJobSpinner job={job} />}
    </div>
  );
}

function ServicesTable({ services, nodeName, showNode }: { services: ServiceOut[]; nodeName: (id: number) => string; showNode: boolean }) {
  const navigate = useNavigate();
  return (
    <Card className="overflow-hidden">
      <Table data-testid="services-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Name</TableHead>
            <TableHead>Status</TableHead>
            <TableHead title="Running / total containers">Running</TableHead>
            <TableHead>Image</TableHead>
            <TableHead>Ports</TableHead>
            {showNode && <TableHead>Node</TableHead>}
            <TableHead>Updated</TableHead>
            <TableHead className="text-right">
              <span className="sr-only">Actions</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {services.map((s) => (
            <TableRow
              key={s.id}
              data-testid="service-row"
              data-service={s.name}
              className="cursor-pointer"
              onClick={() => void navigate(`/services/${s.id}`)}
            >
              <TableCell>
                <NameCell s={s} />
              </TableCell>
              <TableCell>
                <div className="flex flex-wrap items-center gap-1.5">
                  <ServiceStatusPill status={s.status} />
                  {s.drift && <DriftBadge reasons={s.drift_reasons} />}
                  <UpdateAvailableBadge available={s.update_available} />
                </div>
              </TableCell>
              <TableCell>
                <Containers s={s} />
              </TableCell>
              <TableCell>
                <ImageList images={s.images} />
              </TableCell>
              <TableCell className="max-w-64">
                <PortLinks ports={s.ports} max={3} />
              </TableCell>
              {showNode && <TableCell className="whitespace-nowrap text-muted-foreground">{nodeName(s.node_id)}</TableCell>}
              <TableCell className="text-muted-foreground">
                <RelativeTime iso={s.updated_at} />
              </TableCell>
              <TableCell className="py-1.5">
                <ServiceRowActions service={s} />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Card>
  );
}

function ServiceCards({ services, nodeName }: { services: ServiceOut[]; nodeName: (id: number) => string }) {
  const navigate = useNavigate();
  return (
    <ul className="space-y-3" data-testid="services-table">
      {services.map((s) => (
        <li
          key={s.id}
          data-testid="service-row"
          data-service={s.name}
          className="cursor-pointer rounded-lg border bg-card p-4 shadow-xs active:bg-muted/50"
          onClick={() => void navigate(`/services/${s.id}`)}
        >
          <div className="flex items-start justify-between gap-3">
            <NameCell s={s} />
            <div className="flex shrink-0 flex-wrap justify-end gap-1.5">
              <ServiceStatusPill status={s.status} />
              {s.drift && <DriftBadge reasons={s.drift_reasons} />}
              <UpdateAvailableBadge available={s.update_available} />
            </div>
          </div>
          <dl className="mt-3 grid grid-cols-3 gap-2 text-xs">
            <div>
              <dt className="text-muted-foreground">Containers</dt>
              <dd className="mt-0.5">
                <Containers s={s} />
              </dd>
            </div>
            <div>
              <dt className="text-muted-foreground">Node</dt>
              <dd className="mt-0.5 truncate">{nodeName(s.node_id)}</dd>
            </div>
            <div>
              <dt className="text-muted-foreground">Updated</dt>
              <dd className="mt-0.5">
                <RelativeTime iso={s.updated_at} />
              </dd>
            </div>
            <div className="col-span-3 min-w-0">
              <dt className="text-muted-foreground">Image</dt>
              <dd className="mt-0.5 min-w-0">
                <ImageList images={s.images} />
              </dd>
            </div>
            {s.ports.length > 0 && (
              <div className="col-span-3">
                <dt className="sr-only">Ports</dt>
                <dd>
                  <PortLinks ports={s.ports} max={4} />
                </dd>
              </div>
            )}
          </dl>
          <div className="-mx-1 mt-2 border-t pt-2">
            <ServiceRowActions service={s} />
          </div>
        </li>
      ))}
    </ul>
  );
}

function ListSkeleton() {
  return (
    <Card className="space-y-3 p-5" aria-busy="true" aria-label="Loading services">
      {Array.from({ length: 4 }, (_, i) => (
        <div key={i} className="flex items-center gap-4">
          <Skeleton className="h-5 w-40" />
          <Skeleton className="h-5 w-20 rounded-full" />
          <Skeleton className="h-5 w-10" />
          <Skeleton className="hidden h-5 flex-1 sm:block" />
        </div>
      ))}
    </Card>
  );
}

export function ServicesPage() {
  usePageTitle("Services");
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const status = parseStatusFilter(params.get("status"));
  const [draft, setDraft] = useState(q);
  const isDesktop = useMediaQuery("(min-width: 768px)");
  const { nodeName, multiNode } = useNodeNames();
  const poll = usePollInterval();
  const services = useServices(q, poll);

  useEffect(() => setDraft(q), [q]);
  useEffect(() => {
    if (draft === q) return;
    const t = setTimeout(() => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (draft.trim()) next.set("q", draft.trim());
          else next.delete("q");
          return next;
        },
        { replace: true },
      );
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, q, setParams]);

  const setStatus = (v: StatusFilter) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (v) next.set("status", v);
        else next.delete("status");
        return next;
      },
      { replace: true },
    );

  const all = services.data?.items ?? [];
  const shown = all.filter((s) => matchesStatusFilter(s, status));
  const filtered = Boolean(q || status);
  const counts = useMemo(() => {
    const running = all.filter((s) => s.status === "running").length;
    return { total: services.data?.total ?? 0, running };
  }, [all, services.data?.total]);

  // The server decides; the UI only hides what would be refused (or, for tenants, adopting
  // containers they do not own).
  const me = useMe();
  const canCreate = hasPermission(me.data?.permissions, "services:create");
  const canAdopt =
    hasPermission(me.data?.permissions, "services:adopt") && me.data?.sees_all_services !== false;
  const actions = !canCreate ? null : (
    <>
      {canAdopt && (
      <Button variant="outline" asChild data-testid="adopt-button">
        <Link to="/services/adopt">
          <HandHelping />
          <span>
            Adopt
            <span className="max-sm:hidden"> running</span>
          </span>
        </Link>
      </Button>
      )}
      <Button variant="outline" asChild data-testid="import-compose-button">
        <Link to="/services/new?mode=compose">
          <FileUp />
          <span>
            Import
            <span className="max-sm:hidden"> compose</span>
          </span>
        </Link>
      </Button>
      <Button asChild data-testid="create-service-button">
        <Link to="/services/new">
          <Plus />
          <span>
            Create
            <span className="max-sm:hidden"> service</span>
          </span>
        </Link>
      </Button>
    </>
  );

  const noServicesAtAll = services.isSuccess && !filtered && all.length === 0;

  return (
    <div>
      <PageHeader
        description={
          services.data && !noServicesAtAll
            ? `${counts.total} service${counts.total === 1 ? "" : "s"} · ${counts.running} running`
            : "Compose stacks deployed to your nodes"
        }
        actions={noServicesAtAll ? undefined : actions}
      />
      {!noServicesAtAll && (
        <div className="mb-4 flex flex-col gap-2 sm:flex-row sm:items-center" role="search" aria-label="Filter services">
          <div className="relative sm:max-w-xs sm:flex-1">
            <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
            <Input
              type="search"
              placeholder="Search by name"
              aria-label="Search services by name"
              className="pl-8"
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              data-testid="services-search"
            />
          </div>
          <NativeSelect
            aria-label="Filter by status"
            className="sm:w-48"
            value={status}
            onChange={(e) => setStatus(e.target.value as StatusFilter)}
            data-testid="services-status-filter"
          >
            <option value="">All statuses</option>
            {SERVICE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusView(s).label}
              </option>
            ))}
            <option value="drift">Drifted</option>
          </NativeSelect>
          {filtered && (
            <Button
              variant="ghost"
              className="text-muted-foreground"
              onClick={() => {
                setDraft("");
                setParams(new URLSearchParams(), { replace: true });
              }}
            >
              <FilterX /> Clear
            </Button>
          )}
        </div>
      )}

      {services.isPending ? (
        <ListSkeleton />
      ) : services.isError && !services.data ? (
        <ErrorState error={services.error} title="Couldn't load services" onRetry={() => void services.refetch()} />
      ) : noServicesAtAll ? (
        <div data-testid="services-empty">
          <EmptyState
            icon={Layers}
            title="No services yet"
            description="A service is a compose stack Dockyard deploys and watches for you. Start from a container image, import an existing docker-compose.yml, or adopt containers that already run on a node."
            action={<div className="flex flex-wrap justify-center gap-2">{actions}</div>}
            className="py-20"
          />
        </div>
      ) : shown.length === 0 ? (
        <EmptyState
          icon={SearchX}
          title="No services match"
          description="Nothing matches this search and status filter."
          action={
            <Button
              variant="outline"
              onClick={() => {
                setDraft("");
                setParams(new URLSearchParams(), { replace: true });
              }}
            >
              <FilterX /> Clear filters
            </Button>
          }
        />
      ) : isDesktop ? (
        <ServicesTable services={shown} nodeName={nodeName} showNode={multiNode} />
      ) : (
        <ServiceCards services={shown} nodeName={nodeName} />
      )}
    </div>
  );
}
