import { ChevronRight, PlugZap, Server } from "lucide-react";
import { Link, useNavigate } from "react-router";
import { useNodes } from "@/api/queries";
import type { Node } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { NodeStatusPill } from "@/components/Pills";
import { Badge } from "@/components/ui/badge";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatBytes, formatRelative, formatUtc, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

function EngineVersion({ node }: { node: Node }) {
  if (!node.engine.reachable) {
    return (
      <Badge tone="warning" title={node.engine.error ?? "Docker engine unreachable"}>
        <PlugZap className="size-3" /> Unreachable
      </Badge>
    );
  }
  return <span className="font-mono text-[13px]">{orDash(node.engine.server_version)}</span>;
}

function containersText(node: Node): string {
  const e = node.engine;
  if (!e.reachable || e.containers == null) return "—";
  return `${e.containers_running ?? 0} / ${e.containers}`;
}

function KindBadge({ kind }: { kind: Node["kind"] }) {
  return <Badge tone={kind === "local" ? "accent" : "neutral"}>{kind === "local" ? "Local" : "Agent"}</Badge>;
}

function NodesTable({ nodes }: { nodes: Node[] }) {
  const navigate = useNavigate();
  return (
    <Card className="hidden overflow-hidden md:block">
      <Table data-testid="nodes-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Name</TableHead>
            <TableHead>Kind</TableHead>
            <TableHead>Status</TableHead>
            <TableHead>Engine</TableHead>
            <TableHead className="text-right">CPUs</TableHead>
            <TableHead className="text-right">Memory</TableHead>
            <TableHead className="text-right" title="Running / total">Containers</TableHead>
            <TableHead className="text-right">Images</TableHead>
            <TableHead>Last seen</TableHead>
            <TableHead className="w-8"><span className="sr-only">Open</span></TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {nodes.map((n) => (
            <TableRow key={n.id} data-testid="node-row" className="cursor-pointer" onClick={() => void navigate(`/nodes/${n.id}`)}>
              <TableCell>
                <Link to={`/nodes/${n.id}`} className="font-medium hover:underline" onClick={(e) => e.stopPropagation()}>
                  {n.name}
                </Link>
                <div className="max-w-64 truncate font-mono text-[11px] text-muted-foreground" title={n.docker_host}>
                  {n.docker_host}
                </div>
              </TableCell>
              <TableCell><KindBadge kind={n.kind} /></TableCell>
              <TableCell><NodeStatusPill status={n.status} /></TableCell>
              <TableCell><EngineVersion node={n} /></TableCell>
              <TableCell className="text-right tabular-nums">{n.engine.reachable ? orDash(n.engine.cpus) : "—"}</TableCell>
              <TableCell className="text-right whitespace-nowrap tabular-nums">{n.engine.reachable ? formatBytes(n.engine.memory_bytes) : "—"}</TableCell>
              <TableCell className="text-right tabular-nums">{containersText(n)}</TableCell>
              <TableCell className="text-right tabular-nums">{n.engine.reachable ? orDash(n.engine.images) : "—"}</TableCell>
              <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(n.last_seen)}>
                {formatRelative(n.last_seen)}
              </TableCell>
              <TableCell className="text-muted-foreground"><ChevronRight className="size-4" /></TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Card>
  );
}

function NodeCards({ nodes }: { nodes: Node[] }) {
  return (
    <ul className="space-y-3 md:hidden">
      {nodes.map((n) => (
        <li key={n.id}>
          <Link to={`/nodes/${n.id}`} data-testid="node-card" className="block rounded-lg border bg-card p-4 shadow-xs active:bg-muted/50">
            <div className="flex items-start justify-between gap-3">
              <div className="min-w-0">
                <p className="truncate font-medium">{n.name}</p>
                <p className="truncate font-mono text-[11px] text-muted-foreground">{n.docker_host}</p>
              </div>
              <NodeStatusPill status={n.status} />
            </div>
            <dl className="mt-3 grid grid-cols-3 gap-2 text-xs">
              <div><dt className="text-muted-foreground">Engine</dt><dd className="mt-0.5"><EngineVersion node={n} /></dd></div>
              <div><dt className="text-muted-foreground">Containers</dt><dd className="mt-0.5 tabular-nums">{containersText(n)}</dd></div>
              <div><dt className="text-muted-foreground">Images</dt><dd className="mt-0.5 tabular-nums">{n.engine.reachable ? orDash(n.engine.images) : "—"}</dd></div>
              <div><dt className="text-muted-foreground">CPUs</dt><dd className="mt-0.5 tabular-nums">{n.engine.reachable ? orDash(n.engine.cpus) : "—"}</dd></div>
              <div><dt className="text-muted-foreground">Memory</dt><dd className="mt-0.5 tabular-nums">{n.engine.reachable ? formatBytes(n.engine.memory_bytes) : "—"}</dd></div>
              <div><dt className="text-muted-foreground">Kind</dt><dd className="mt-0.5"><KindBadge kind={n.kind} /></dd></div>
            </dl>
          </Link>
        </li>
      ))}
    </ul>
  );
}

export function NodesPage() {
  usePageTitle("Nodes");
  const nodes = useNodes();

  return (
    <div>
      <PageHeader
        description={
          nodes.data
            ? `${nodes.data.total} node${nodes.data.total === 1 ? "" : "s"} · Docker engines Dockyard manages`
            : "Docker engines Dockyard manages"
        }
      />
      {nodes.isPending ? (
        <Card className="space-y-3 p-5">
          {Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-10 w-full" />)}
        </Card>
      ) : nodes.isError ? (
        <ErrorState error={nodes.error} title="Couldn't load nodes" onRetry={() => void nodes.refetch()} />
      ) : nodes.data.items.length === 0 ? (
        <EmptyState
          icon={Server}
          title="No nodes yet"
          description="The local Docker engine appears here once the server can reach its socket. Remote agents arrive in a later release."
        />
      ) : (
        <>
          <NodesTable nodes={nodes.data.items} />
          <NodeCards nodes={nodes.data.items} />
        </>
      )}
    </div>
  );
}
