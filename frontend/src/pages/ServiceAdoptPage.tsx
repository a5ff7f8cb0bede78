import { ArrowLeft, Boxes, Container, FolderOpen, HandHelping, RefreshCw, Server } from "lucide-react";
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useNodes } from "@/api/queries";
import { useUnmanaged } from "@/api/serviceQueries";
import type { Node, UnmanagedContainer, UnmanagedProject } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { AdoptDialog } from "@/components/services/AdoptDialog";
import { PortLinks } from "@/components/services/ServiceBits";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { containerStateTone, pruneSelection, stateSummary, type AdoptTarget } from "@/lib/adopt";
import { usePageTitle } from "@/lib/pageTitle";
import { cn } from "@/lib/utils";

const DOT: Record<ReturnType<typeof containerStateTone>, string> = {
  success: "bg-emerald-500",
  warning: "bg-amber-500",
  danger: "bg-red-500",
  neutral: "bg-zinc-400",
};

function ContainerStatePill({ state }: { state: string }) {
  const tone = containerStateTone(state);
  const label = state ? state[0]!.toUpperCase() + state.slice(1) : "Unknown";
  return (
    <Badge tone={tone} data-testid="container-state" data-state={state}>
      <span aria-hidden className={cn("size-1.5 rounded-full", DOT[tone], state === "restarting" && "animate-pulse")} />
      {label}
    </Badge>
  );
}

/** The node from `?node=`, else the local node, else the first one. */
function pickNode(nodes: readonly Node[], fromUrl: string | null): Node | null {
  const wanted = fromUrl ? Number(fromUrl) : NaN;
  return nodes.find((n) => n.id === wanted) ?? nodes.find((n) => n.kind === "local") ?? nodes[0] ?? null;
}

function SectionTitle({ icon: Icon, title, count, hint }: { icon: typeof Boxes; title: string; count: number; hint: string }) {
  return (
    <div className="mb-3">
      <h3 className="flex items-center gap-2 text-sm font-semibold">
        <Icon className="size-4 text-muted-foreground" aria-hidden /> {title}
        <span className="rounded-full bg-muted px-1.5 text-xs font-medium text-muted-foreground tabular-nums">{count}</span>
      </h3>
      <p className="mt-0.5 text-xs text-muted-foreground">{hint}</p>
    </div>
  );
}

function NoneHere({ children }: { children: string }) {
  return <p className="rounded-lg border border-dashed bg-card/50 px-4 py-5 text-center text-sm text-muted-foreground">{children}</p>;
}

const SHOWN_IN_CARD = 4;

function ProjectCard({ project, onAdopt }: { project: UnmanagedProject; onAdopt: () => void }) {
  const files = project.config_files ?? [];
  const [expanded, setExpanded] = useState(false);
  // Long projects fold after a few containers (one more is not worth a toggle).
  const foldable = project.containers.length > SHOWN_IN_CARD + 1;
  const shown = foldable && !expanded ? project.containers.slice(0, SHOWN_IN_CARD) : project.containers;
  return (
    <Card className="flex min-w-0 flex-col" data-testid="unmanaged-project" data-project={project.name}>
      <div className="flex items-start justify-between gap-3 px-4 pt-4 pb-3">
        <div className="min-w-0">
          <h4 className="truncate font-mono text-[15px] font-semibold" title={project.name}>
            {project.name}
          </h4>
          <p className="mt-0.5 text-xs text-muted-foreground">
            {project.containers.length} container{project.containers.length === 1 ? "" : "s"} · {stateSummary(project.containers.map((c) => c.state))}
          </p>
        </div>
        <Button size="sm" onClick={onAdopt} data-testid="adopt-project" aria-label={`Adopt compose project ${project.name}`}>
          <HandHelping /> Adopt
        </Button>
      </div>
      <ul className="divide-y border-t" aria-label={`Containers of ${project.name}`}>
        {shown.map((c) => (
          <li key={c.id} className="flex items-center gap-3 px-4 py-2.5" data-container={c.name}>
            <div className="min-w-0 flex-1">
              <p className="flex min-w-0 items-baseline gap-2">
                <span className="max-w-[65%] shrink-0 truncate text-sm font-medium">{c.service ?? c.name}</span>
                {c.service && c.service !== c.name && (
                  <span className="truncate font-mono text-[11.5px] text-muted-foreground" title={`Container ${c.name}`}>
                    {c.name}
                  </span>
                )}
              </p>
              <p className="truncate font-mono text-[12px] text-muted-foreground" title={c.image}>
                {c.image}
              </p>
            </div>
            <ContainerStatePill state={c.state} />
          </li>
        ))}
        {foldable && (
          <li>
            <button
              type="button"
              className="w-full cursor-pointer px-4 py-2 text-left text-xs font-medium text-primary hover:bg-muted/40 hover:underline"
              aria-expanded={expanded}
              onClick={() => setExpanded((v) => !v)}
              data-testid="project-more"
            >
              {expanded ? "Show fewer" : `Show ${project.containers.length - SHOWN_IN_CARD} more`}
            </button>
          </li>
        )}
      </ul>
      {(project.working_dir || files.length > 0) && (
        <div className="flex min-w-0 items-center gap-1.5 border-t bg-muted/30 px-4 py-2 text-xs text-muted-foreground">
          <FolderOpen className="size-3.5 shrink-0" aria-hidden />
          <span className="sr-only">Working directory</span>
          <span className="truncate font-mono" title={[project.working_dir, ...files].filter(Boolean).join("\n")} data-testid="project-working-dir">
            {project.working_dir ?? files[0]}
          </span>
        </div>
      )}
    </Card>
  );
}

function ContainersTable({
  containers,
  selected,
  onToggle,
  onToggleAll,
  onAdopt,
}: {
  containers: UnmanagedContainer[];
  selected: ReadonlySet<string>;
  onToggle: (id: string) => void;
  onToggleAll: (all: boolean) => void;
  onAdopt: () => void;
}) {
  const allSelected = containers.length > 0 && containers.every((c) => selected.has(c.id));
  const someSelected = selected.size > 0 && !allSelected;
  return (
    <Card className="overflow-hidden">
      <div className="flex flex-wrap items-center justify-between gap-2 border-b px-4 py-2.5">
        <p className="text-sm text-muted-foreground" aria-live="polite">
          {selected.size ? (
            <span className="font-medium text-foreground">
              {selected.size} selected
            </span>
          ) : (
            "Select the containers that belong together."
          )}
        </p>
        <Button size="sm" disabled={selected.size === 0} onClick={onAdopt} data-testid="adopt-containers" className="max-sm:w-full">
          <HandHelping /> Adopt selected as one service
        </Button>
      </div>
      <Table>
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead className="w-10 first:pl-4">
              <Checkbox
                aria-label="Select all containers"
                checked={allSelected}
                ref={(el) => {
                  if (el) el.indeterminate = someSelected;
                }}
                onChange={(e) => onToggleAll(e.target.checked)}
              />
            </TableHead>
            <TableHead>Name</TableHead>
            <TableHead className="max-sm:hidden">Image</TableHead>
            <TableHead>State</TableHead>
            <TableHead className="max-md:hidden">Ports</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {containers.map((c) => {
            const checked = selected.has(c.id);
            return (
              <TableRow
                key={c.id}
                data-testid="unmanaged-container"
                data-container={c.name}
                data-state={checked ? "selected" : undefined}
                aria-selected={checked}
                className={cn("cursor-pointer", checked && "bg-primary/5 hover:bg-primary/10")}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("input, a, button")) return;
                  onToggle(c.id);
                }}
              >
                <TableCell className="w-10 first:pl-4">
                  <Checkbox checked={checked} onChange={() => onToggle(c.id)} aria-label={`Select ${c.name}`} data-testid="unmanaged-container-select" />
                </TableCell>
                <TableCell className="max-w-[10.5rem] sm:max-w-[14rem]">
                  <p className="truncate font-medium" title={c.name}>
                    {c.name}
                  </p>
                  <p className="truncate font-mono text-[12px] text-muted-foreground sm:hidden" title={c.image}>
                    {c.image}
                  </p>
                </TableCell>
                <TableCell className="max-w-[16rem] max-sm:hidden">
                  <span className="block truncate font-mono text-[12px]" title={c.image}>
                    {c.image}
                  </span>
                </TableCell>
                <TableCell>
                  <ContainerStatePill state={c.state} />
                </TableCell>
                <TableCell className="max-md:hidden">
                  <PortLinks ports={c.ports} max={3} />
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
    </Card>
  );
}

function AdoptSkeleton() {
  return (
    <div className="space-y-6" aria-busy="true" aria-label="Looking for containers">
      <div>
        <Skeleton className="mb-3 h-5 w-44" />
        <div className="grid gap-4 md:grid-cols-2">
          {Array.from({ length: 2 }, (_, i) => (
            <Card key={i} className="space-y-3 p-4">
              <div className="flex justify-between">
                <Skeleton className="h-5 w-32" />
                <Skeleton className="h-8 w-20" />
              </div>
              <Skeleton className="h-9 w-full" />
              <Skeleton className="h-9 w-full" />
            </Card>
          ))}
        </div>
      </div>
      <div>
        <Skeleton className="mb-3 h-5 w-52" />
        <Card className="space-y-3 p-4">
          {Array.from({ length: 3 }, (_, i) => (
            <div key={i} className="flex items-center gap-4">
              <Skeleton className="size-4" />
              <Skeleton className="h-5 w-40" />
              <Skeleton className="hidden h-5 flex-1 sm:block" />
              <Skeleton className="h-5 w-16 rounded-full" />
            </div>
          ))}
        </Card>
      </div>
    </div>
  );
}

export function ServiceAdoptPage() {
  usePageTitle("Services", "Adopt running · Services");
  const [params, setParams] = useSearchParams();
  const nodes = useNodes();
  const nodeList = nodes.data?.items ?? [];
  const node = pickNode(nodeList, params.get("node"));
  const unmanaged = useUnmanaged(node?.id ?? null);
  const [selection, setSelection] = useState<Set<string>>(() => new Set());
  const [target, setTarget] = useState<AdoptTarget | null>(null);

  const projects = unmanaged.data?.projects ?? [];
  const containers = useMemo(() => unmanaged.data?.containers ?? [], [unmanaged.data]);
  // Only what is still listed counts (the list refreshes, and another node lists others).
  const selected = useMemo(() => pruneSelection(selection, containers), [selection, containers]);

  const toggle = (id: string) =>
    setSelection(() => {
      const next = new Set(selected);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const toggleAll = (all: boolean) => setSelection(all ? new Set(containers.map((c) => c.id)) : new Set());

  const setNode = (id: number) => {
    setSelection(new Set());
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        next.set("node", String(id));
        return next;
      },
      { replace: true },
    );
  };

  const adoptSelected = () => {
    const chosen = containers.filter((c) => selected.has(c.id));
    if (chosen.length) setTarget({ kind: "containers", containers: chosen });
  };

  const nothing = unmanaged.isSuccess && projects.length === 0 && containers.length === 0;

  let body;
  if (nodes.isPending || (node && unmanaged.isPending)) {
    body = <AdoptSkeleton />;
  } else if (nodes.isError && !nodes.data) {
    body = <ErrorState error={nodes.error} title="Couldn't load nodes" onRetry={() => void nodes.refetch()} />;
  } else if (!node) {
    body = (
      <EmptyState
        icon={Server}
        title="No nodes yet"
        description="Dockyard looks for running containers on its nodes. Add a node first."
        action={
          <Button asChild variant="outline">
            <Link to="/nodes">Nodes</Link>
          </Button>
        }
      />
    );
  } else if (unmanaged.isError && !unmanaged.data) {
    body = <ErrorState error={unmanaged.error} title={`Couldn't list the containers on ${node.name}`} onRetry={() => void unmanaged.refetch()} />;
  } else if (nothing) {
    body = (
      <div data-testid="adopt-empty">
        <EmptyState
          icon={Container}
          title="Nothing to adopt"
          description={
            <>
              Every container on <span className="font-medium text-foreground">{node.name}</span> is managed by Dockyard.
            </>
          }
          action={
            <div className="flex flex-wrap justify-center gap-2">
              <Button variant="outline" onClick={() => void unmanaged.refetch()} disabled={unmanaged.isFetching}>
                <RefreshCw className={cn(unmanaged.isFetching && "animate-spin")} /> Check again
              </Button>
              <Button asChild variant="ghost">
                <Link to="/services">All services</Link>
              </Button>
            </div>
          }
          className="py-16"
        />
      </div>
    );
  } else {
    body = (
      <div className="space-y-8">
        <section aria-labelledby="adopt-projects" data-testid="adopt-projects">
          <div id="adopt-projects">
            <SectionTitle
              icon={Boxes}
              title="Compose projects"
              count={projects.length}
              hint="Started with docker compose. Adopting a project takes over all of its containers as one service."
            />
          </div>
          {projects.length === 0 ? (
            <NoneHere>No compose projects outside Dockyard on this node.</NoneHere>
          ) : (
            <div className="grid items-start gap-4 md:grid-cols-2">
              {projects.map((p) => (
                <ProjectCard key={p.name} project={p} onAdopt={() => setTarget({ kind: "project", project: p.name, containers: p.containers })} />
              ))}
            </div>
          )}
        </section>
        <section aria-labelledby="adopt-standalone" data-testid="adopt-standalone">
          <div id="adopt-standalone">
            <SectionTitle
              icon={Container}
              title="Standalone containers"
              count={containers.length}
              hint="Started with docker run or another tool. Pick the ones that make up one service; each keeps its name."
            />
          </div>
          {containers.length === 0 ? (
            <NoneHere>No standalone containers outside Dockyard on this node.</NoneHere>
          ) : (
            <ContainersTable containers={containers} selected={selected} onToggle={toggle} onToggleAll={toggleAll} onAdopt={adoptSelected} />
          )}
        </section>
      </div>
    );
  }

  return (
    <div className="mx-auto max-w-5xl" data-testid="adopt-page">
      <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
        <Link to="/services">
          <ArrowLeft /> All services
        </Link>
      </Button>
      <div className="mb-6 flex flex-wrap items-end justify-between gap-x-6 gap-y-3">
        <div className="min-w-0 max-w-2xl">
          <h2 className="mb-1 text-xl font-semibold">Adopt running containers</h2>
          <p className="text-sm text-muted-foreground">
            Bring compose projects and containers that already run on a node under Dockyard's management, without losing their data.
          </p>
        </div>
        <div className="flex w-full items-end gap-2 sm:w-auto">
          <div className="min-w-0 flex-1 space-y-1.5 sm:w-56 sm:flex-none">
            <Label htmlFor="adopt-node">Node</Label>
            <NativeSelect
              id="adopt-node"
              value={node?.id ?? ""}
              onChange={(e) => setNode(Number(e.target.value))}
              disabled={nodeList.length === 0}
              data-testid="adopt-node"
            >
              {nodeList.length === 0 && <option value="">No nodes</option>}
              {nodeList.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name}
                  {n.status !== "online" ? " (offline)" : ""}
                </option>
              ))}
            </NativeSelect>
          </div>
          <Button
            variant="outline"
            size="icon"
            onClick={() => void unmanaged.refetch()}
            disabled={!node || unmanaged.isFetching}
            aria-label="Refresh the list"
            title="Refresh the list"
            data-testid="adopt-refresh"
          >
            <RefreshCw className={cn(unmanaged.isFetching && !unmanaged.isPending && "animate-spin")} />
          </Button>
        </div>
      </div>

      {body}

      <AdoptDialog target={target} nodeId={node?.id ?? null} nodeName={node?.name ?? "this node"} onOpenChange={(open) => !open && setTarget(null)} />
    </div>
  );
}
