import { ChevronRight, PlugZap, Plus, Server } from "lucide-react";
import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { useNodeList, type NodeView } from "@/api/nodes";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatBytes, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { KindBadge, LabelPills, LastSeen, NodeStatePill, useNow } from "./nodes/NodeBits";
import { AddNodeDialog } from "./nodes/NodeDialogs";
import { nodeState } from "./nodes/nodeFormat";

/** Engine facts are only meaningful for a local node or a connected agent. */
function engineShown(node: NodeView): boolean {
  return node.kind === "local" || nodeState(node) === "online";
}

function EngineVersion({ node }: { node: NodeView }) {
  if (!engineShown(node)) return <span className="text-muted-foreground">—</span>;
  if (!node.engine.reachable) {
    return (
      <Badge tone="warning" title={node.engine.error ?? "Docker engine unreachable"}>
        <PlugZap className="size-3" /> Unreachable
      </Badge>
    );
  }
  return (
    <span className="block truncate font-mono text-[13px]" title={node.engine.server_version ?? undefined}>
      {orDash(node.engine.server_version)}
    </span>
  );
}

function AgentVersion({ node }: { node: NodeView }) {
  if (node.kind === "local") return <span className="text-muted-foreground">built in</span>;
  if (!node.agent?.version) return <span className="text-muted-foreground">—</span>;
  return <span className="font-mono text-[13px]">{node.agent.version}</span>;
}

function fact(node: NodeView, f: (n: NodeView) => string): string {
  return engineShown(node) && node.engine.reachable ? f(node) : "—";
}

function containersText(node: NodeView): string {
  return fact(node, (n) => (n.engine.containers == null ? "—" : `${n.engine.containers_running ?? 0} / ${n.engine.containers}`));
}

/** Under the name: the agent's host name for agents, the engine socket for the local node. */
function subtitle(node: NodeView): string {
  if (node.kind === "agent") return node.agent?.hostname ? `${node.agent.hostname}` : nodeState(node) === "pending" ? "not enrolled yet" : "agent";
  return node.docker_host;
}

function StatusCell({ node, now }: { node: NodeView; now: number }) {
  const state = nodeState(node);
  return (
    <div className="flex flex-col items-start gap-0.5">
      <NodeStatePill node={node} />
      {state !== "pending" && <LastSeen iso={node.last_seen} now={now} prefix="last seen " className="text-[11px] text-muted-foreground" />}
    </div>
  );
}

function NodesTable({ nodes, now }: { nodes: NodeView[]; now: number }) {
  const navigate = useNavigate();
  return (
    <Card className="hidden overflow-hidden md:block">
      <Table data-testid="nodes-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Name</TableHead>
            <TableHead>Kind</TableHead>
            <TableHead>Status</TableHead>
            <TableHead>Agent</TableHead>
            <TableHead>Engine</TableHead>
            <TableHead className="text-right">CPUs</TableHead>
            <TableHead className="text-right">Memory</TableHead>
            <TableHead className="text-right" title="Running / total">
              Containers
            </TableHead>
            <TableHead>Labels</TableHead>
            <TableHead className="w-8">
              <span className="sr-only">Open</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {nodes.map((n) => (
            <TableRow key={n.id} data-testid="node-row" data-node-id={n.id} data-state={nodeState(n)} className="cursor-pointer" onClick={() => void navigate(`/nodes/${n.id}`)}>
              <TableCell>
                <Link to={`/nodes/${n.id}`} className="font-medium hover:underline" onClick={(e) => e.stopPropagation()} data-testid="node-link">
                  {n.name}
                </Link>
                <div className="max-w-56 truncate font-mono text-[11px] text-muted-foreground" title={subtitle(n)}>
                  {subtitle(n)}
                </div>
              </TableCell>
              <TableCell>
                <KindBadge kind={n.kind} />
              </TableCell>
              <TableCell>
                <StatusCell node={n} now={now} />
              </TableCell>
              <TableCell className="whitespace-nowrap" data-testid="node-agent-version">
                <AgentVersion node={n} />
              </TableCell>
              <TableCell>
                <EngineVersion node={n} />
              </TableCell>
              <TableCell className="text-right tabular-nums">{fact(n, (x) => orDash(x.engine.cpus))}</TableCell>
              <TableCell className="text-right whitespace-nowrap tabular-nums">{fact(n, (x) => formatBytes(x.engine.memory_bytes))}</TableCell>
              <TableCell className="text-right tabular-nums">{containersText(n)}</TableCell>
              <TableCell className="max-w-64">
                <LabelPills labels={n.labels} max={3} />
              </TableCell>
              <TableCell className="text-muted-foreground">
                <ChevronRight className="size-4" />
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Card>
  );
}

function NodeCards({ nodes, now }: { nodes: NodeView[]; now: number }) {
  return (
    <ul className="space-y-3 md:hidden">
      {nodes.map((n) => (
        <li key={n.id}>
          <Link to={`/nodes/${n.id}`} data-testid="node-card" className="block rounded-lg border bg-card p-4 shadow-xs active:bg-muted/50">
            <div className="flex items-start justify-between gap-3">
              <div className="min-w-0">
                <p className="truncate font-medium">{n.name}</p>
                <p className="truncate font-mono text-[11px] text-muted-foreground">{subtitle(n)}</p>
              </div>
              <StatusCell node={n} now={now} />
            </div>
            <dl className="mt-3 grid grid-cols-3 gap-2 text-xs [&>div]:min-w-0">
              <div>
                <dt className="text-muted-foreground">Kind</dt>
                <dd className="mt-0.5">
                  <KindBadge kind={n.kind} />
                </dd>
              </div>
              <div>
                <dt className="text-muted-foreground">Engine</dt>
                <dd className="mt-0.5">
                  <EngineVersion node={n} />
                </dd>
              </div>
              <div>
                <dt className="text-muted-foreground">Containers</dt>
                <dd className="mt-0.5 tabular-nums">{containersText(n)}</dd>
              </div>
              <div>
                <dt className="text-muted-foreground">CPUs</dt>
                <dd className="mt-0.5 tabular-nums">{fact(n, (x) => orDash(x.engine.cpus))}</dd>
              </div>
              <div>
                <dt className="text-muted-foreground">Memory</dt>
                <dd className="mt-0.5 tabular-nums">{fact(n, (x) => formatBytes(x.engine.memory_bytes))}</dd>
              </div>
              <div>
                <dt className="text-muted-foreground">Agent</dt>
                <dd className="mt-0.5 truncate">
                  <AgentVersion node={n} />
                </dd>
              </div>
            </dl>
            {Object.keys(n.labels ?? {}).length > 0 && <LabelPills labels={n.labels} max={4} className="mt-3" />}
          </Link>
        </li>
      ))}
    </ul>
  );
}

export function NodesPage() {
  usePageTitle("Nodes");
  const nodes = useNodeList();
  const canManage = useCan("nodes:manage");
  const now = useNow();
  const [adding, setAdding] = useState(false);
  const items = nodes.data?.items ?? [];
  const online = items.filter((n) => nodeState(n) === "online").length;

  const add = canManage ? (
    <Button onClick={() => setAdding(true)} data-testid="node-add">
      <Plus /> Add node
    </Button>
  ) : undefined;

  return (
    <div>
      <PageHeader
        description={
          nodes.data
            ? `${nodes.data.total} node${nodes.data.total === 1 ? "" : "s"} · ${online} online · Docker hosts Dockyard manages, here or through an agent`
            : "Docker hosts Dockyard manages, here or through an agent"
        }
        actions={add}
      />
      {nodes.isPending ? (
        <Card className="space-y-3 p-5">
          {Array.from({ length: 3 }, (_, i) => (
            <Skeleton key={i} className="h-10 w-full" />
          ))}
        </Card>
      ) : nodes.isError ? (
        <ErrorState error={nodes.error} title="Couldn't load nodes" onRetry={() => void nodes.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState
          icon={Server}
          title="No nodes yet"
          description="The local Docker engine appears here once the server can reach its socket. Add a node to manage another Docker host through the Dockyard agent."
          action={add}
        />
      ) : (
        <>
          <NodesTable nodes={items} now={now} />
          <NodeCards nodes={items} now={now} />
        </>
      )}
      {canManage && <AddNodeDialog open={adding} onOpenChange={setAdding} />}
    </div>
  );
}
