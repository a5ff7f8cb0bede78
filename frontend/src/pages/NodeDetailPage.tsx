import { ArrowLeft, Info, Server } from "lucide-react";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { isApiError } from "@/api/errors";
import { useNodeDetail } from "@/api/nodes";
import { EmptyState } from "@/components/EmptyState";
import { EngineCard } from "@/components/EngineCard";
import { EngineUnreachable } from "@/components/EngineUnreachable";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid } from "@/components/KeyValue";
import { NodeMetrics } from "@/components/metrics/NodeMetrics";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { formatDateTime, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { NodeActions } from "./nodes/NodeActions";
import { KindBadge, LastSeen, NodeStatePill, useNow } from "./nodes/NodeBits";
import { AgentCard, LabelsCard, NodeBanner, NodeServicesCard } from "./nodes/NodeCards";
import { EditNodeDialog } from "./nodes/NodeDialogs";
import { nodeState } from "./nodes/nodeFormat";

export function NodeDetailPage() {
  const { id: rawId } = useParams();
  const id = Number(rawId);
  const valid = Number.isInteger(id) && id > 0;
  const node = useNodeDetail(id);
  const canManage = useCan("nodes:manage");
  const canSeeServices = useCan("services:read");
  const now = useNow();
  const [editing, setEditing] = useState(false);
  usePageTitle("Nodes", node.data ? `${node.data.name} · Nodes` : "Node");

  const back = (
    <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
      <Link to="/nodes">
        <ArrowLeft /> All nodes
      </Link>
    </Button>
  );

  if (!valid || (node.isError && isApiError(node.error) && node.error.status === 404)) {
    return (
      <div>
        {back}
        <EmptyState icon={Server} title="Node not found" description="This node does not exist or was removed." />
      </div>
    );
  }
  if (node.isError && !node.data) {
    return (
      <div>
        {back}
        <ErrorState error={node.error} title="Couldn't load this node" onRetry={() => void node.refetch()} />
      </div>
    );
  }
  if (node.isPending) {
    return (
      <div>
        {back}
        <Card className="space-y-3 p-5">
          <Skeleton className="h-5 w-40" />
          {Array.from({ length: 8 }, (_, i) => (
            <Skeleton key={i} className="h-5 w-full" />
          ))}
        </Card>
      </div>
    );
  }

  const n = node.data;
  const state = nodeState(n);
  const isAgent = n.kind === "agent";
  // An agent node that is not online has no engine to ask: its banner explains why.
  const engineKnown = !isAgent || state === "online";
  return (
    <div className="space-y-5">
      <div>
        {back}
        <div className="flex flex-wrap items-start justify-between gap-3">
          <div className="min-w-0 space-y-1">
            <div className="flex flex-wrap items-center gap-2.5">
              <h2 className="truncate text-xl font-semibold" data-testid="node-name">
                {n.name}
              </h2>
              <NodeStatePill node={n} />
              <KindBadge kind={n.kind} />
            </div>
            {state !== "pending" && (
              <p className="text-sm text-muted-foreground">
                {n.last_seen ? <LastSeen iso={n.last_seen} now={now} prefix="Last seen " /> : "Not seen yet"}
              </p>
            )}
          </div>
          {canManage && <NodeActions node={n} onEdit={() => setEditing(true)} />}
        </div>
      </div>

      <NodeBanner node={n} now={now} canManage={canManage} />
      {engineKnown && !n.engine.reachable && <EngineUnreachable node={n} />}

      <div className="grid gap-5 lg:grid-cols-3">
        <div className="space-y-5 lg:col-span-2">
          {engineKnown ? (
            <EngineCard node={n} full testId="node-engine-card" />
          ) : (
            <Card data-testid="node-engine-card">
              <CardHeader>
                <CardTitle>Docker engine</CardTitle>
              </CardHeader>
              <CardContent>
                <p className="text-sm text-muted-foreground" data-testid="node-engine-unknown">
                  {state === "pending"
                    ? "The engine's facts appear once the agent has connected."
                    : "The engine can't be reached while the agent is not connected."}
                </p>
              </CardContent>
            </Card>
          )}
          {canSeeServices && <NodeServicesCard nodeId={n.id} />}
        </div>
        <div className="space-y-5">
          <Card>
            <CardHeader>
              <CardTitle className="flex items-center gap-2">
                <Info className="size-4 text-muted-foreground" /> Node
              </CardTitle>
            </CardHeader>
            <CardContent>
              <KeyValueGrid
                className="sm:grid-cols-1"
                items={[
                  { label: "ID", value: String(n.id), mono: true },
                  { label: "Kind", value: isAgent ? "Agent" : "Local" },
                  isAgent
                    ? { label: "Engine address", value: n.docker_host, mono: true, title: "Every Dockyard process reaches this node's engine through its own tunnel socket for this address, relayed to the server replica holding the agent's connection" }
                    : { label: "Docker host", value: n.docker_host, mono: true },
                  { label: "Added", value: formatDateTime(n.created_at), title: formatUtc(n.created_at) },
                ]}
              />
            </CardContent>
          </Card>
          {isAgent && <AgentCard node={n} now={now} />}
          <LabelsCard node={n} onEdit={canManage ? () => setEditing(true) : null} />
        </div>
      </div>

      <NodeMetrics nodeId={n.id} />

      {canManage && <EditNodeDialog node={n} open={editing} onOpenChange={setEditing} />}
    </div>
  );
}
