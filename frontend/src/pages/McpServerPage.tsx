import { ArrowLeft, Bot, ChevronDown, ChevronRight, Minus, Pencil, Plus } from "lucide-react";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { CartesianGrid, ComposedChart, Line, ResponsiveContainer, Scatter, Tooltip, XAxis, YAxis } from "recharts";
import { isApiError } from "@/api/errors";
import { useMcpHistory, useMcpServer, useMcpToolChanges, useMcpTools } from "@/api/mcp";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { formatDateTime, formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { CheckNowButton, formatMs, McpStatusBadge } from "@/pages/McpServersPage";
import { McpServerDialog } from "@/pages/mcp/McpServerDialog";
import { UsageAnalytics } from "@/pages/mcp/UsageAnalytics";

function timeLabel(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

function ToolsTab({ id }: { id: number }) {
  const tools = useMcpTools(id);
  const changes = useMcpToolChanges(id);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <div className="grid gap-4 lg:grid-cols-[1fr_20rem]">
      <Card className="overflow-x-auto">
        <div className="border-b px-4 py-2 text-sm font-medium">Tools</div>
        {tools.isPending ? (
          <Skeleton className="m-4 h-20" />
        ) : (tools.data?.items ?? []).length === 0 ? (
          <p className="px-4 py-8 text-center text-sm text-muted-foreground">No tools listed yet: check the server.</p>
        ) : (
          <ul className="divide-y" data-testid="mcp-tools">
            {(tools.data?.items ?? []).map((t) => (
              <li key={t.name} data-testid="mcp-tool" data-name={t.name}>
                <button
                  type="button"
                  className="flex w-full cursor-pointer items-start gap-2 px-4 py-2.5 text-left hover:bg-muted/50"
                  aria-expanded={open === t.name}
                  onClick={() => setOpen(open === t.name ? null : t.name)}
                >
                  {open === t.name ? <ChevronDown className="mt-0.5 size-4 shrink-0" /> : <ChevronRight className="mt-0.5 size-4 shrink-0" />}
                  <span className="min-w-0">
                    <span className="font-mono text-sm font-medium">{t.name}</span>
                    {t.description && <span className="block text-sm text-muted-foreground">{t.description}</span>}
                  </span>
                </button>
                {open === t.name && (
                  <pre className="mx-4 mb-3 max-h-72 overflow-auto rounded-md bg-muted p-3 font-mono text-xs" data-testid="mcp-tool-schema">
                    {JSON.stringify(t.input_schema, null, 2)}
                  </pre>
                )}
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card>
        <div className="border-b px-4 py-2 text-sm font-medium">Tool changes</div>
        {(changes.data?.items ?? []).length === 0 ? (
          <p className="px-4 py-6 text-center text-sm text-muted-foreground">No tools added or removed since the first check.</p>
        ) : (
          <ul className="divide-y text-sm" data-testid="mcp-tool-changes">
            {(changes.data?.items ?? []).map((c) => (
              <li key={c.id} className="flex items-center gap-2 px-4 py-2" data-testid="mcp-tool-change" data-change={c.change}>
                {c.change === "added" ? <Plus className="size-4 text-emerald-600" /> : <Minus className="size-4 text-red-600" />}
                <span className="font-mono">{c.tool_name}</span>
                <span className="ml-auto text-xs text-muted-foreground" title={formatUtc(c.at)}>
                  {formatRelative(c.at)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}

function HealthTab({ id }: { id: number }) {
  const history = useMcpHistory(id);
  const items = history.data?.items ?? [];
  const points = [...items].reverse().map((h) => ({
    t: h.checked_at ?? "",
    latency: h.healthy ? h.latency_ms : null,
    failed: h.healthy ? null : 0,
  }));
  return (
    <div className="space-y-4">
      <Card className="p-4" data-testid="mcp-health-chart">
        <p className="mb-2 text-sm font-medium">Check latency (failures at zero, in red)</p>
        {points.length === 0 ? (
          <p className="py-10 text-center text-sm text-muted-foreground">No checks yet.</p>
        ) : (
          <div className="h-56">
            <ResponsiveContainer width="100%" height="100%">
              <ComposedChart data={points} margin={{ top: 5, right: 10, bottom: 0, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="var(--color-border)" />
                <XAxis dataKey="t" tickFormatter={timeLabel} minTickGap={40} fontSize={11} stroke="var(--color-muted-foreground)" />
                <YAxis unit=" ms" width={64} fontSize={11} stroke="var(--color-muted-foreground)" />
                <Tooltip labelFormatter={(v) => formatDateTime(String(v))} />
                <Line type="monotone" dataKey="latency" stroke="#0284c7" strokeWidth={2} dot={points.length < 60} isAnimationActive={false} connectNulls />
                <Scatter dataKey="failed" fill="#dc2626" isAnimationActive={false} />
              </ComposedChart>
            </ResponsiveContainer>
          </div>
        )}
      </Card>
      <Card className="overflow-x-auto">
        <Table data-testid="mcp-history">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Result</TableHead>
              <TableHead>Checked</TableHead>
              <TableHead className="text-right">Latency</TableHead>
              <TableHead className="text-right">Tools</TableHead>
              <TableHead>Protocol</TableHead>
              <TableHead>Error</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {items.slice(0, 50).map((h) => (
              <TableRow key={h.id} data-testid="mcp-history-row">
                <TableCell>
                  <Badge tone={h.healthy ? "success" : "danger"}>{h.healthy ? "healthy" : "failed"}</Badge>
                </TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(h.checked_at ?? null)}>
                  {formatRelative(h.checked_at ?? null)}
                </TableCell>
                <TableCell className="text-right tabular-nums">{formatMs(h.latency_ms)}</TableCell>
                <TableCell className="text-right tabular-nums">{h.tool_count ?? "—"}</TableCell>
                <TableCell className="font-mono text-xs">{h.protocol_version ?? ""}</TableCell>
                <TableCell className="max-w-sm truncate text-sm" title={h.error ?? ""}>
                  {h.error ?? ""}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
    </div>
  );
}

export function McpServerPage() {
  const { id: rawId } = useParams();
  const id = Number(rawId);
  const valid = Number.isInteger(id) && id > 0;
  const server = useMcpServer(valid ? id : 0);
  const [editing, setEditing] = useState(false);
  usePageTitle("MCP servers", server.data ? `${server.data.name} · MCP` : "MCP server");
  const back = (
    <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
      <Link to="/mcp">
        <ArrowLeft /> All MCP servers
      </Link>
    </Button>
  );
  if (!valid || (server.isError && isApiError(server.error) && server.error.status === 404)) {
    return (
      <div>
        {back}
        <EmptyState icon={Bot} title="MCP server not found" description="This MCP server does not exist or was deleted." />
      </div>
    );
  }
  if (server.isError && !server.data) {
    return (
      <div>
        {back}
        <ErrorState error={server.error} title="Couldn't load this MCP server" onRetry={() => void server.refetch()} />
      </div>
    );
  }
  if (!server.data) {
    return (
      <div>
        {back}
        <Skeleton className="h-40 w-full" />
      </div>
    );
  }
  const s = server.data;
  const last = s.last_check;
  return (
    <div>
      {back}
      <div className="mb-5 flex flex-wrap items-start justify-between gap-3">
        <div>
          <div className="flex items-center gap-2">
            <h2 className="text-lg font-semibold" data-testid="mcp-title">
              {s.name}
            </h2>
            <McpStatusBadge server={s} />
            {s.tags.map((t) => (
              <Badge key={t} tone="mono">
                {t}
              </Badge>
            ))}
          </div>
          <p className="mt-1 font-mono text-xs text-muted-foreground">
            {s.transport === "sse" ? "SSE" : "Streamable HTTP"} · {s.url} · every {s.check_interval_s} s
            {s.header_names.length > 0 && ` · headers: ${s.header_names.join(", ")}`}
            {s.service_id != null && (
              <>
                {" · "}
                <Link className="underline" to={`/services/${s.service_id}`}>
                  service #{s.service_id}
                </Link>
              </>
            )}
          </p>
          {s.description && <p className="mt-1 text-sm">{s.description}</p>}
          {last && !last.healthy && last.error && <p className="mt-1 text-sm text-red-700 dark:text-red-300">{last.error}</p>}
        </div>
        <div className="flex gap-2">
          <CheckNowButton server={s} size="default" />
          <Button variant="outline" onClick={() => setEditing(true)} data-testid="mcp-edit">
            <Pencil /> Edit
          </Button>
        </div>
      </div>
      <div className="mb-4 grid gap-3 sm:grid-cols-4">
        {(
          [
            ["Tools", String(s.tool_count)],
            ["Last latency", formatMs(last?.latency_ms)],
            ["Server", last?.server_name ? `${last.server_name} ${last.server_version ?? ""}` : "—"],
            ["Protocol", last?.protocol_version ?? "—"],
          ] as const
        ).map(([label, value]) => (
          <Card key={label} className="p-4">
            <p className="text-xs text-muted-foreground">{label}</p>
            <p className="truncate text-xl font-semibold tabular-nums" title={value}>
              {value}
            </p>
          </Card>
        ))}
      </div>
      <Tabs defaultValue="tools">
        <TabsList>
          <TabsTrigger value="tools" data-testid="tab-tools">
            Tools
          </TabsTrigger>
          <TabsTrigger value="health" data-testid="tab-health">
            Health history
          </TabsTrigger>
          <TabsTrigger value="usage" data-testid="tab-usage">
            Usage
          </TabsTrigger>
        </TabsList>
        <TabsContent value="tools" className="mt-4">
          <ToolsTab id={s.id} />
        </TabsContent>
        <TabsContent value="health" className="mt-4">
          <HealthTab id={s.id} />
        </TabsContent>
        <TabsContent value="usage" className="mt-4">
          <UsageAnalytics serverId={s.id} />
        </TabsContent>
      </Tabs>
      <McpServerDialog open={editing} onOpenChange={setEditing} server={s} />
    </div>
  );
}
