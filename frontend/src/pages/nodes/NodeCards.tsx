import { Ban, Bot, Hourglass, Layers, Pencil, Tags, Unplug } from "lucide-react";
import type { ReactNode } from "react";
import { Link } from "react-router";
import { useNodeServices, type NodeView } from "@/api/nodes";
import type { ServiceOut } from "@/api/types";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid } from "@/components/KeyValue";
import { ServiceStatusPill } from "@/components/services/ServiceBits";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatDateTime, formatUptime, formatUtc, orDash, replicaLabel } from "@/lib/format";
import { cn } from "@/lib/utils";
import { LabelPills, LastSeen } from "./NodeBits";
import { formatExpiry, formatLastSeen, isExpired, nodeState } from "./nodeFormat";

function Banner({ tone, icon: Icon, title, children, testId }: { tone: "amber" | "red" | "slate"; icon: typeof Unplug; title: string; children: ReactNode; testId: string }) {
  const tones = {
    amber: "border-amber-300 bg-amber-50 text-amber-950 dark:border-amber-800/70 dark:bg-amber-950/40 dark:text-amber-100 [&_svg.banner-icon]:text-amber-600",
    red: "border-red-300 bg-red-50 text-red-950 dark:border-red-900/70 dark:bg-red-950/40 dark:text-red-100 [&_svg.banner-icon]:text-red-600",
    slate: "border-border bg-muted/60 text-foreground [&_svg.banner-icon]:text-muted-foreground",
  };
  return (
    <div role="alert" data-testid={testId} className={cn("flex gap-3 rounded-lg border p-4", tones[tone])}>
      <Icon className="banner-icon mt-0.5 size-5 shrink-0" />
      <div className="min-w-0 space-y-1">
        <p className="font-semibold">{title}</p>
        <div className="text-sm break-words">{children}</div>
      </div>
    </div>
  );
}

/** The banner an agent node needs, if any: waiting for its agent, revoked, or offline. */
export function NodeBanner({ node, now, canManage }: { node: NodeView; now: number; canManage: boolean }) {
  if (node.kind !== "agent") return null;
  const state = nodeState(node);
  if (state === "pending") {
    const expired = isExpired(node.enrollment_expires_at, now);
    return (
      <Banner tone="amber" icon={Hourglass} title="Waiting for the agent" testId="node-pending-banner">
        <p>
          No agent has enrolled with this node's token yet
          {node.enrollment_expires_at ? (
            <>
              {" "}
              (the token <span title={formatUtc(node.enrollment_expires_at)}>{formatExpiry(node.enrollment_expires_at, now)}</span>)
            </>
          ) : null}
          . The token and the command were shown once, when the node was added.
          {canManage ? (
            <> {expired ? "Issue a new enrollment token to enroll the agent." : "If you no longer have them, issue a new enrollment token: the earlier one then stops working."}</>
          ) : (
            " Ask someone who manages nodes for a new enrollment token."
          )}
        </p>
      </Banner>
    );
  }
  if (state === "revoked") {
    return (
      <Banner tone="slate" icon={Ban} title="Credential revoked" testId="node-revoked-banner">
        <p>
          This node's credential was revoked{" "}
          {node.revoked_at ? <span title={formatUtc(node.revoked_at)}>{formatLastSeen(node.revoked_at, now)}</span> : null}: its agent was disconnected and
          can't reconnect. Actions on this node fail.{canManage ? " Issue a new enrollment token to enroll an agent again, or delete the node." : ""}
        </p>
      </Banner>
    );
  }
  if (state === "offline") {
    return (
      <Banner tone="red" icon={Unplug} title="Agent offline" testId="node-offline-banner">
        <p>
          {node.last_seen ? (
            <>
              The agent was last seen <LastSeen iso={node.last_seen} now={now} />; actions on this node fail until it reconnects.
            </>
          ) : (
            "The agent enrolled but has not connected yet; actions on this node fail until it connects."
          )}{" "}
          Check that the <code className="font-mono">dockyard agent</code> process runs on the host and can reach this server.
        </p>
      </Banner>
    );
  }
  return null;
}

/** What the agent reported when it connected, and its credential's state. */
export function AgentCard({ node, now }: { node: NodeView; now: number }) {
  const a = node.agent ?? null;
  const state = nodeState(node);
  const items = [
    { label: "Agent version", value: orDash(a?.version), mono: true, testId: "agent-version" },
    {
      label: "Connected for",
      value: a?.connected_at && state === "online" ? formatUptime(a.connected_at, now) : "—",
      title: a?.connected_at ? `Since ${formatDateTime(a.connected_at)} (${formatUtc(a.connected_at)})` : undefined,
      testId: "agent-connected",
    },
    { label: "Last seen", value: <LastSeen iso={a?.last_seen ?? node.last_seen} now={now} />, title: undefined },
    {
      label: "Server replica",
      value: state === "online" ? replicaLabel(a?.replica) : "—",
      title: a?.replica ?? undefined,
      mono: true,
      testId: "agent-replica",
    },
    { label: "Remote address", value: orDash(a?.remote_addr), mono: true, testId: "agent-remote-addr" },
    { label: "Hostname", value: orDash(a?.hostname), mono: true, testId: "agent-hostname" },
    { label: "Docker host (on the node)", value: orDash(a?.docker_host), mono: true, testId: "agent-docker-host" },
    {
      label: "Credential",
      value:
        state === "revoked"
          ? `Revoked ${formatDateTime(node.revoked_at)}`
          : state === "pending"
            ? node.enrollment_expires_at
              ? `Not enrolled · token ${formatExpiry(node.enrollment_expires_at, now)}`
              : "Not enrolled"
            : "Enrolled",
      testId: "agent-credential",
    },
  ];
  return (
    <Card data-testid="agent-card">
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <Bot className="size-4 text-muted-foreground" /> Agent
        </CardTitle>
        <CardDescription>{a ? "As reported by the agent when it last connected." : "No agent has connected yet."}</CardDescription>
      </CardHeader>
      <CardContent>
        <KeyValueGrid className="sm:grid-cols-1" items={items} />
      </CardContent>
    </Card>
  );
}

export function LabelsCard({ node, onEdit }: { node: NodeView; onEdit: (() => void) | null }) {
  return (
    <Card data-testid="labels-card">
      <CardHeader className="flex-row items-start justify-between gap-3">
        <div className="space-y-1">
          <CardTitle className="flex items-center gap-2">
            <Tags className="size-4 text-muted-foreground" /> Labels
          </CardTitle>
          <CardDescription>Placement constraints match on these.</CardDescription>
        </div>
        {onEdit && (
          <Button variant="ghost" size="sm" className="-mt-1" onClick={onEdit} data-testid="labels-edit">
            <Pencil /> Edit
          </Button>
        )}
      </CardHeader>
      <CardContent>
        {Object.keys(node.labels ?? {}).length ? <LabelPills labels={node.labels} /> : <p className="text-sm text-muted-foreground">No labels.</p>}
      </CardContent>
    </Card>
  );
}

function ServiceRow({ s }: { s: ServiceOut }) {
  return (
    <TableRow data-testid="node-service-row">
      <TableCell>
        <Link to={`/services/${s.id}`} className="font-medium hover:underline">
          {s.name}
        </Link>
      </TableCell>
      <TableCell>
        <ServiceStatusPill status={s.status} />
      </TableCell>
      <TableCell className="text-right tabular-nums" title={`${s.containers_running} of ${s.containers_total} containers running`}>
        {s.containers_total ? `${s.containers_running}/${s.containers_total}` : "—"}
      </TableCell>
    </TableRow>
  );
}

/** The services placed on this node (server-side filter `?node_id=`; only those the user may see). */
export function NodeServicesCard({ nodeId }: { nodeId: number }) {
  const services = useNodeServices(nodeId);
  let body: ReactNode;
  if (services.isPending) body = <Skeleton className="h-16 w-full" />;
  else if (services.isError) body = <ErrorState error={services.error} title="Couldn't load the services" onRetry={() => void services.refetch()} />;
  else if (services.data.items.length === 0) body = <p className="text-sm text-muted-foreground" data-testid="node-services-empty">No services run on this node.</p>;
  else
    body = (
      <Table data-testid="node-services-table" wrapperClassName="-mx-5 w-auto">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Service</TableHead>
            <TableHead>Status</TableHead>
            <TableHead className="text-right">Running</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {services.data.items.map((s) => (
            <ServiceRow key={s.id} s={s} />
          ))}
        </TableBody>
      </Table>
    );
  const total = services.data?.total;
  return (
    <Card data-testid="node-services-card">
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <Layers className="size-4 text-muted-foreground" /> Services{total ? <span className="font-normal text-muted-foreground">· {total}</span> : null}
        </CardTitle>
        <CardDescription>Services placed on this node that you can see.</CardDescription>
      </CardHeader>
      <CardContent>{body}</CardContent>
    </Card>
  );
}
