import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Bot, Loader2, Pencil, Play, Plus, Trash2 } from "lucide-react";
import { Link } from "react-router";
import { toast } from "sonner";
import { mcpApi, mcpKeys, useMcpServers, type McpServerOut } from "@/api/mcp";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useListEditing } from "@/lib/useListEditing";
import { McpServerDialog } from "@/pages/mcp/McpServerDialog";

export function McpStatusBadge({ server }: { server: Pick<McpServerOut, "status" | "enabled"> }) {
  if (!server.enabled) return <Badge data-testid="mcp-status" data-status="disabled">disabled</Badge>;
  if (server.status === "up")
    return (
      <Badge tone="success" data-testid="mcp-status" data-status="up">
        healthy
      </Badge>
    );
  if (server.status === "down")
    return (
      <Badge tone="danger" data-testid="mcp-status" data-status="down">
        failing
      </Badge>
    );
  return (
    <Badge data-testid="mcp-status" data-status="unknown">
      not checked
    </Badge>
  );
}

export function formatMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return "—";
  return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

export function CheckNowButton({ server, size = "sm" }: { server: McpServerOut; size?: "sm" | "default" }) {
  const queryClient = useQueryClient();
  const run = useMutation({
    mutationFn: () => mcpApi.check(server.id),
    onSuccess: (r) => {
      void queryClient.invalidateQueries({ queryKey: mcpKeys.all });
      toast(r.healthy ? `${server.name} is healthy: ${r.tools?.length ?? 0} tools (${formatMs(r.latency_ms)})` : `${server.name} failed: ${r.error ?? "unreachable"}`);
    },
  });
  return (
    <Button variant="outline" size={size} onClick={() => run.mutate()} disabled={run.isPending} data-testid="mcp-check">
      {run.isPending ? <Loader2 className="animate-spin" /> : <Play />} Check now
    </Button>
  );
}

export function McpServersPage() {
  usePageTitle("MCP servers");
  const servers = useMcpServers();
  const { editing, dialogOpen, setDialogOpen, openDialog, deleting, setDeleting, remove } = useListEditing<McpServerOut>({
    remove: (id) => mcpApi.remove(id),
    queryKey: mcpKeys.all,
    noun: "the server",
  });
  const add = (
    <Button onClick={() => openDialog(null)} data-testid="mcp-add">
      <Plus /> Add MCP server
    </Button>
  );
  const items = servers.data?.items ?? [];

  let body;
  if (servers.isError) {
    body = <ErrorState error={servers.error} title="Couldn't load the MCP servers" onRetry={() => void servers.refetch()} />;
  } else if (servers.isPending) {
    body = (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 3 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  } else if (items.length === 0) {
    body = (
      <EmptyState
        icon={Bot}
        title="No MCP servers yet"
        description="Register streamable HTTP or SSE MCP servers to watch their health and tools, and see their usage and cost."
        action={add}
      />
    );
  } else {
    body = (
      <Card className="overflow-x-auto">
        <Table data-testid="mcp-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Health</TableHead>
              <TableHead>Server</TableHead>
              <TableHead className="text-right">Tools</TableHead>
              <TableHead className="text-right">Latency</TableHead>
              <TableHead>Tags</TableHead>
              <TableHead>Checked</TableHead>
              <TableHead className="w-48">
                <span className="sr-only">Actions</span>
              </TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {items.map((s) => (
              <TableRow key={s.id} data-testid="mcp-row" data-name={s.name}>
                <TableCell>
                  <McpStatusBadge server={s} />
                </TableCell>
                <TableCell>
                  <Link to={`/mcp/${s.id}`} className="font-medium hover:underline" data-testid="mcp-link">
                    {s.name}
                  </Link>
                  <div className="max-w-md truncate font-mono text-xs text-muted-foreground" title={s.url}>
                    <span className="mr-1.5">{s.transport === "sse" ? "SSE" : "HTTP"}</span>
                    {s.url}
                  </div>
                </TableCell>
                <TableCell className="text-right tabular-nums" data-testid="mcp-tool-count">
                  {s.tool_count}
                </TableCell>
                <TableCell className="text-right tabular-nums">{formatMs(s.last_check?.latency_ms)}</TableCell>
                <TableCell>
                  <div className="flex flex-wrap gap-1">
                    {s.tags.map((t) => (
                      <Badge key={t} tone="mono">
                        {t}
                      </Badge>
                    ))}
                  </div>
                </TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={s.last_check?.checked_at ? formatUtc(s.last_check.checked_at) : undefined}>
                  {s.last_check?.checked_at ? formatRelative(s.last_check.checked_at) : "never"}
                </TableCell>
                <TableCell>
                  <div className="flex justify-end gap-1">
                    <CheckNowButton server={s} />
                    <Button variant="ghost" size="icon" aria-label={`Edit ${s.name}`} onClick={() => openDialog(s)}>
                      <Pencil />
                    </Button>
                    <Button variant="ghost" size="icon" aria-label={`Delete ${s.name}`} onClick={() => setDeleting(s)}>
                      <Trash2 />
                    </Button>
                  </div>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
    );
  }

  return (
    <div>
      <PageHeader description="MCP servers: health, tools and usage." actions={items.length > 0 ? add : undefined} />
      {body}
      <McpServerDialog open={dialogOpen} onOpenChange={setDialogOpen} server={editing} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description="Its checks, tool history and usage data are deleted too."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => {
          if (deleting) remove.mutate(deleting.id);
        }}
      />
    </div>
  );
}
