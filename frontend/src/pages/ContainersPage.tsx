import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { AlertTriangle, ArrowDown, ArrowUp, Boxes, ChevronLeft, ChevronRight, FilterX, RotateCw, Search, SearchX } from "lucide-react";
import { useEffect, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { usePollInterval } from "@/api/realtimeQueries";
import { useServices } from "@/api/serviceQueries";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { PortLinks, RelativeTime } from "@/components/services/ServiceBits";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tip } from "@/components/ui/tooltip";
import { usePageTitle } from "@/lib/pageTitle";
import { useMediaQuery } from "@/lib/useMediaQuery";
import { cn } from "@/lib/utils";
import { fleetApi, fleetKeys, type FleetContainer, type FleetQuery, type UnavailableNode } from "./fleet/api";
import { ContainerStatePill, CONTAINER_STATES } from "./fleet/ContainerBits";

const PAGE_SIZE = 100;
const DEBOUNCE_MS = 300;
type SortKey = NonNullable<FleetQuery["sort"]>;

function useDebouncedParam(params: URLSearchParams, setParams: ReturnType<typeof useSearchParams>[1], key: string) {
  const value = params.get(key) ?? "";
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  useEffect(() => {
    if (draft === value) return;
    const t = setTimeout(() => {
      setParams(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (draft.trim()) next.set(key, draft.trim());
          else next.delete(key);
          next.delete("page");
          return next;
        },
        { replace: true },
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, value, key, setParams]);
  return [draft, setDraft] as const;
}

function UnavailableBadge({ nodes }: { nodes: readonly UnavailableNode[] }) {
  if (nodes.length === 0) return null;
  return (
    <Tip content={nodes.map((n) => `${n.name}: ${n.error}`).join("\n")}>
      <Badge tone="warning" data-testid="unavailable-nodes" tabIndex={0}>
        <AlertTriangle className="size-3.5" />
        {nodes.length} node{nodes.length === 1 ? "" : "s"} unavailable
      </Badge>
    </Tip>
  );
}

function SortHead({ label, field, sort, order, onSort, className }: { label: string; field: SortKey; sort: SortKey; order: "asc" | "desc"; onSort: (f: SortKey) => void; className?: string }) {
  const active = sort === field;
  const Icon = order === "asc" ? ArrowUp : ArrowDown;
  return (
    <TableHead className={className} aria-sort={active ? (order === "asc" ? "ascending" : "descending") : "none"}>
      <button type="button" className="inline-flex items-center gap-1 hover:text-foreground" onClick={() => onSort(field)} data-testid={`sort-${field}`}>
        {label}
        {active && <Icon className="size-3.5" />}
      </button>
    </TableHead>
  );
}

function ServiceCell({ c }: { c: FleetContainer }) {
  if (c.service_id != null) {
    return (
      <Link to={`/services/${c.service_id}`} className="font-medium hover:underline" onClick={(e) => e.stopPropagation()} data-testid="container-service-link">
        {c.service_name}
      </Link>
    );
  }
  if (c.compose_project) return <span className="text-muted-foreground" title="Compose project (not managed by Dockyard)">{c.compose_project}</span>;
  return <span className="text-muted-foreground">—</span>;
}

const detailPath = (c: FleetContainer) => `/containers/${c.node_id}/${c.id}`;

function ContainersTable({ rows, sort, order, onSort }: { rows: FleetContainer[]; sort: SortKey; order: "asc" | "desc"; onSort: (f: SortKey) => void }) {
  const navigate = useNavigate();
  return (
    <Card className="overflow-hidden">
      <Table data-testid="containers-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <SortHead label="Name" field="name" sort={sort} order={order} onSort={onSort} />
            <SortHead label="Node" field="node" sort={sort} order={order} onSort={onSort} />
            <SortHead label="State" field="state" sort={sort} order={order} onSort={onSort} />
            <SortHead label="Image" field="image" sort={sort} order={order} onSort={onSort} />
            <SortHead label="Service" field="service" sort={sort} order={order} onSort={onSort} />
            <TableHead>Ports</TableHead>
            <SortHead label="Created" field="created" sort={sort} order={order} onSort={onSort} />
          </TableRow>
        </TableHeader>
        <TableBody>
          {rows.map((c) => (
            <TableRow key={`${c.node_id}:${c.id}`} className="cursor-pointer" data-testid="container-row" data-container={c.name} onClick={() => void navigate(detailPath(c))}>
              <TableCell className="max-w-72">
                <Link to={detailPath(c)} className="block truncate font-medium hover:underline" title={c.name} onClick={(e) => e.stopPropagation()} data-testid="container-name-link">
                  {c.name}
                </Link>
                <span className="font-mono text-[11px] text-muted-foreground">{c.id.slice(0, 12)}</span>
              </TableCell>
              <TableCell className="whitespace-nowrap">
                <Link to={`/nodes/${c.node_id}`} className="hover:underline" onClick={(e) => e.stopPropagation()}>
                  {c.node_name}
                </Link>
              </TableCell>
              <TableCell>
                <ContainerStatePill state={c.state} status={c.status} />
              </TableCell>
              <TableCell className="max-w-64">
                <span className="block truncate font-mono text-[12.5px]" title={c.image}>
                  {c.image}
                </span>
              </TableCell>
              <TableCell className="max-w-48 truncate">
                <ServiceCell c={c} />
              </TableCell>
              <TableCell className="max-w-56">
                <PortLinks ports={c.ports} max={3} />
              </TableCell>
              <TableCell className="text-muted-foreground">
                <RelativeTime iso={c.created} />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Card>
  );
}

function ContainerCards({ rows }: { rows: FleetContainer[] }) {
  const navigate = useNavigate();
  return (
    <ul className="space-y-3" data-testid="containers-table">
      {rows.map((c) => (
        <li key={`${c.node_id}:${c.id}`} data-testid="container-row" className="cursor-pointer rounded-lg border bg-card p-4 shadow-xs" onClick={() => void navigate(detailPath(c))}>
          <div className="flex items-start justify-between gap-3">
            <Link to={detailPath(c)} className="min-w-0 truncate font-medium hover:underline" onClick={(e) => e.stopPropagation()}>
              {c.name}
            </Link>
            <ContainerStatePill state={c.state} status={c.status} />
          </div>
          <dl className="mt-3 grid grid-cols-2 gap-2 text-xs">
            <div>
              <dt className="text-muted-foreground">Node</dt>
              <dd className="mt-0.5 truncate">{c.node_name}</dd>
            </div>
            <div>
              <dt className="text-muted-foreground">Service</dt>
              <dd className="mt-0.5 truncate">
                <ServiceCell c={c} />
              </dd>
            </div>
            <div className="col-span-2 min-w-0">
              <dt className="text-muted-foreground">Image</dt>
              <dd className="mt-0.5 truncate font-mono">{c.image}</dd>
            </div>
          </dl>
        </li>
      ))}
    </ul>
  );
}

export function ContainersPage() {
  usePageTitle("Containers");
  const [params, setParams] = useSearchParams();
  const [qDraft, setQDraft] = useDebouncedParam(params, setParams, "q");
  const [imageDraft, setImageDraft] = useDebouncedParam(params, setParams, "image");
  const nodeId = Number(params.get("node")) || undefined;
  const serviceId = Number(params.get("service")) || undefined;
  const state = params.get("state") ?? "";
  const sort = (params.get("sort") as SortKey | null) ?? "node";
  const order = params.get("order") === "desc" ? "desc" : "asc";
  const page = Math.max(0, Number(params.get("page")) || 0);
  const poll = usePollInterval(10_000, 30_000);
  const isDesktop = useMediaQuery("(min-width: 768px)");

  const query: FleetQuery = {
    node_id: nodeId,
    service_id: serviceId,
    state: state || undefined,
    image: params.get("image") || undefined,
    q: params.get("q") || undefined,
    sort,
    order,
    limit: PAGE_SIZE,
    offset: page * PAGE_SIZE,
  };
  const list = useQuery({
    queryKey: fleetKeys.containers(query),
    queryFn: ({ signal }) => fleetApi.list(query, signal),
    placeholderData: keepPreviousData,
    refetchInterval: poll,
  });
  const services = useServices("", false);

  const set = (key: string, value: string | undefined) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (value) next.set(key, value);
        else next.delete(key);
        if (key !== "page") next.delete("page");
        return next;
      },
      { replace: true },
    );
  const onSort = (field: SortKey) => {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        const flip = sort === field && order === "asc";
        next.set("sort", field);
        next.set("order", flip ? "desc" : "asc");
        return next;
      },
      { replace: true },
    );
  };

  const data = list.data;
  const rows = data?.items ?? [];
  const filtered = Boolean(nodeId || serviceId || state || params.get("image") || params.get("q"));
  const clear = () => {
    setQDraft("");
    setImageDraft("");
    setParams(new URLSearchParams(), { replace: true });
  };
  const nodes = data?.nodes ?? [];
  const running = rows.filter((r) => r.state === "running").length;
  const available = nodes.filter((n) => n.available).length;
  const total = data?.total ?? 0;
  const lastPage = Math.max(0, Math.ceil(total / PAGE_SIZE) - 1);

  return (
    <div>
      <PageHeader
        description={
          <span className="inline-flex flex-wrap items-center gap-2">
            <span>
              {data ? `${total} container${total === 1 ? "" : "s"} on ${available} node${available === 1 ? "" : "s"}${total <= PAGE_SIZE ? ` · ${running} running` : ""}` : "Every container on every node"}
            </span>
            <UnavailableBadge nodes={data?.unavailable_nodes ?? []} />
          </span>
        }
        actions={
          <Button variant="outline" size="sm" onClick={() => void list.refetch()} disabled={list.isFetching} data-testid="containers-refresh">
            <RotateCw className={cn(list.isFetching && "animate-spin")} /> Refresh
          </Button>
        }
      />
      <div className="mb-4 flex flex-col gap-2 lg:flex-row lg:flex-wrap lg:items-center" role="search" aria-label="Filter containers">
        <div className="relative lg:w-60">
          <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
          <Input type="search" placeholder="Name or id" aria-label="Search containers by name or id" className="pl-8" value={qDraft} onChange={(e) => setQDraft(e.target.value)} data-testid="containers-search" />
        </div>
        <div className="grid grid-cols-2 gap-2 lg:contents">
        <NativeSelect aria-label="Filter by node" className="lg:w-40" value={nodeId ?? ""} onChange={(e) => set("node", e.target.value)} data-testid="containers-node-filter">
          <option value="">All nodes</option>
          {nodes.map((n) => (
            <option key={n.node_id} value={n.node_id}>
              {n.name}
              {n.available ? "" : " (unavailable)"}
            </option>
          ))}
          {nodeId && !nodes.some((n) => n.node_id === nodeId) && <option value={nodeId}>node {nodeId}</option>}
        </NativeSelect>
        <NativeSelect aria-label="Filter by service" className="lg:w-44" value={serviceId ?? ""} onChange={(e) => set("service", e.target.value)} data-testid="containers-service-filter">
          <option value="">All services</option>
          {(services.data?.items ?? []).map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </NativeSelect>
        <NativeSelect aria-label="Filter by state" className="lg:w-40" value={state} onChange={(e) => set("state", e.target.value)} data-testid="containers-state-filter">
          <option value="">All states</option>
          {CONTAINER_STATES.map((s) => (
            <option key={s} value={s}>
              {s[0]!.toUpperCase() + s.slice(1)}
            </option>
          ))}
        </NativeSelect>
        <Input type="search" placeholder="Image" aria-label="Filter by image" className="lg:w-44" value={imageDraft} onChange={(e) => setImageDraft(e.target.value)} data-testid="containers-image-filter" />
        </div>
        {filtered && (
          <Button variant="ghost" size="sm" onClick={clear} data-testid="containers-clear-filters">
            <FilterX /> Clear
          </Button>
        )}
      </div>

      {(data?.unavailable_nodes.length ?? 0) > 0 && (
        <div role="status" className="mb-4 rounded-lg border border-amber-200 bg-amber-50 px-4 py-2.5 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/50 dark:text-amber-200" data-testid="unavailable-nodes-notice">
          {data!.unavailable_nodes.map((n) => (
            <p key={n.node_id} className="flex items-start gap-2">
              <AlertTriangle className="mt-0.5 size-4 shrink-0" />
              <span>
                <Link to={`/nodes/${n.node_id}`} className="font-medium hover:underline">
                  {n.name}
                </Link>{" "}
                is unavailable: {n.error} Its containers are not listed.
              </span>
            </p>
          ))}
        </div>
      )}

      {list.isPending ? (
        <Card className="space-y-3 p-5" aria-busy="true" aria-label="Loading containers">
          {Array.from({ length: 5 }, (_, i) => (
            <div key={i} className="flex items-center gap-4">
              <Skeleton className="h-5 w-48" />
              <Skeleton className="h-5 w-20" />
              <Skeleton className="h-5 w-16 rounded-full" />
              <Skeleton className="hidden h-5 flex-1 sm:block" />
            </div>
          ))}
        </Card>
      ) : list.isError ? (
        <ErrorState error={list.error} title="Couldn't load the containers" onRetry={() => void list.refetch()} />
      ) : rows.length === 0 ? (
        filtered ? (
          <EmptyState icon={SearchX} title="No containers match" description="Try other filters." action={<Button variant="outline" onClick={clear}>Clear filters</Button>} />
        ) : (
          <EmptyState icon={Boxes} title="No containers" description="No container runs on the nodes you can see yet." />
        )
      ) : (
        <>
          {isDesktop ? <ContainersTable rows={rows} sort={sort} order={order} onSort={onSort} /> : <ContainerCards rows={rows} />}
          {total > PAGE_SIZE && (
            <div className="mt-3 flex items-center justify-end gap-2 text-sm text-muted-foreground">
              <span>
                {page * PAGE_SIZE + 1}–{Math.min(total, (page + 1) * PAGE_SIZE)} of {total}
              </span>
              <Button variant="outline" size="sm" disabled={page === 0} onClick={() => set("page", String(page - 1))} aria-label="Previous page">
                <ChevronLeft />
              </Button>
              <Button variant="outline" size="sm" disabled={page >= lastPage} onClick={() => set("page", String(page + 1))} aria-label="Next page">
                <ChevronRight />
              </Button>
            </div>
          )}
        </>
      )}
    </div>
  );
}
