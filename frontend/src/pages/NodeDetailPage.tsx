import { ArrowLeft, Info, Server } from "lucide-react";
import { Link, useParams } from "react-router";
import { isApiError } from "@/api/errors";
import { useNode } from "@/api/queries";
import { EmptyState } from "@/components/EmptyState";
import { EngineCard } from "@/components/EngineCard";
import { EngineUnreachable } from "@/components/EngineUnreachable";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid } from "@/components/KeyValue";
import { NodeStatusPill } from "@/components/Pills";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { formatDateTime, formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

export function NodeDetailPage() {
  const { id: rawId } = useParams();
  const id = Number(rawId);
  const valid = Number.isInteger(id) && id > 0;
  const node = useNode(id);
  usePageTitle("Nodes", node.data ? `${node.data.name} · Nodes` : "Node");

  const back = (
    <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
      <Link to="/nodes"><ArrowLeft /> All nodes</Link>
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
    return <div>{back}<ErrorState error={node.error} title="Couldn't load this node" onRetry={() => void node.refetch()} /></div>;
  }
  if (node.isPending) {
    return (
      <div>
        {back}
        <Card className="space-y-3 p-5">
          <Skeleton className="h-5 w-40" />
          {Array.from({ length: 8 }, (_, i) => <Skeleton key={i} className="h-5 w-full" />)}
        </Card>
      </div>
    );
  }

  const n = node.data;
  return (
    <div className="space-y-5">
      <div>
        {back}
        <div className="flex flex-wrap items-center gap-3">
          <h2 className="text-xl font-semibold" data-testid="node-name">{n.name}</h2>
          <NodeStatusPill status={n.status} />
        </div>
      </div>
      {!n.engine.reachable && <EngineUnreachable node={n} />}
      <div className="grid gap-5 lg:grid-cols-3">
        <div className="lg:col-span-2">
          <EngineCard node={n} full testId="node-engine-card" />
        </div>
        <Card>
          <CardHeader>
            <CardTitle className="flex items-center gap-2"><Info className="size-4 text-muted-foreground" /> Node</CardTitle>
          </CardHeader>
          <CardContent>
            <KeyValueGrid
              className="sm:grid-cols-1"
              items={[
                { label: "ID", value: String(n.id), mono: true },
                { label: "Kind", value: n.kind === "local" ? "Local" : "Agent" },
                { label: "Status", value: n.status === "online" ? "Online" : "Offline" },
                { label: "Docker host", value: n.docker_host, mono: true },
                { label: "Last seen", value: formatRelative(n.last_seen), title: formatUtc(n.last_seen) },
                { label: "Added", value: formatDateTime(n.created_at), title: formatUtc(n.created_at) },
              ]}
            />
          </CardContent>
        </Card>
      </div>
    </div>
  );
}
