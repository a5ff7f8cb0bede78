import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Loader2, Network, Pencil, Plus, Trash2, Wand2 } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useNodeList, type NodeView } from "@/api/nodes";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { LabelPills } from "./nodes/NodeBits";
import { PlacementExplanationView } from "./placement/PlacementExplanationView";
import {
  placementApi,
  placementKeys,
  useClusters,
  usePortAllocations,
  usePortRanges,
  type ClusterOut,
  type PlacementExplanation,
} from "./placement/placementApi";
import { formatLabels, formatRanges, parseLabels, parseRanges, targetFields, targetFromValue } from "./placement/placementFormat";

function FormError({ message, testId }: { message: string | null; testId: string }) {
  if (!message) return null;
  return (
    <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid={testId}>
      {message}
    </p>
  );
}

function ClusterDialog({ open, onOpenChange, cluster, nodes }: { open: boolean; onOpenChange: (o: boolean) => void; cluster: ClusterOut | null; nodes: NodeView[] }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [labels, setLabels] = useState("");
  const [members, setMembers] = useState<Set<number>>(new Set());
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setName(cluster?.name ?? "");
    setDescription(cluster?.description ?? "");
    setLabels(formatLabels(cluster?.labels));
    setMembers(new Set(cluster?.nodes.map((n) => n.id) ?? []));
    setError(null);
  }, [open, cluster]);

  const save = useMutation({
    mutationFn: () => {
      const parsed = parseLabels(labels);
      if (parsed.errors.length) throw new Error(parsed.errors.join("; "));
      const body = { name, description, labels: parsed.value, node_ids: [...members].sort((a, b) => a - b) };
      return cluster ? placementApi.updateCluster(cluster.id, body) : placementApi.createCluster(body);
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) && isApiError(err) },
    onMutate: () => setError(null),
    onError: (err) => setError(err instanceof Error ? err.message : "Saving failed."),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: placementKeys.all });
      toast(cluster ? `Saved ${saved.name}` : `Created ${saved.name}`);
      onOpenChange(false);
    },
  });

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="cluster-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{cluster ? `Edit ${cluster.name}` : "New cluster"}</DialogTitle>
            <DialogDescription>A named group of nodes. A service that targets a cluster is placed on one of its members.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-name`}>Name</Label>
              <Input id={`${ids}-name`} value={name} onChange={(e) => setName(e.target.value)} required maxLength={128} data-testid="cluster-name" />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-description`}>Description</Label>
              <Input id={`${ids}-description`} value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-labels`}>Labels</Label>
              <Textarea id={`${ids}-labels`} value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="tier=edge" className="font-mono" rows={3} data-testid="cluster-labels" />
              <p className="text-xs text-muted-foreground">One key=value per line.</p>
            </div>
            <fieldset className="space-y-1.5">
              <legend className="text-sm font-medium">Member nodes</legend>
              {nodes.length === 0 && <p className="text-sm text-muted-foreground">No nodes yet.</p>}
              {nodes.map((n) => (
                <label key={n.id} className="flex items-center gap-2 text-sm">
                  <Checkbox
                    checked={members.has(n.id)}
                    onChange={(e) => {
                      const next = new Set(members);
                      if (e.target.checked) next.add(n.id);
                      else next.delete(n.id);
                      setMembers(next);
                    }}
                    data-testid="cluster-member"
                    data-node-id={n.id}
                  />
                  {n.name}
                  <span className="text-xs text-muted-foreground">{n.kind}</span>
                </label>
              ))}
            </fieldset>
            <FormError message={error} testId="cluster-form-error" />
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending || !name} data-testid="cluster-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              {cluster ? "Save" : "Create cluster"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function ClustersCard({ nodes, canManage }: { nodes: NodeView[]; canManage: boolean }) {
  const clusters = useClusters();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<ClusterOut | null>(null);
  const [open, setOpen] = useState(false);
  const [deleting, setDeleting] = useState<ClusterOut | null>(null);
  const remove = useMutation({
    mutationFn: (id: number) => placementApi.removeCluster(id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: placementKeys.all });
      toast(`Deleted ${deleting?.name ?? "the cluster"}`);
      setDeleting(null);
    },
  });
  const add = canManage ? (
    <Button
      size="sm"
      onClick={() => {
        setEditing(null);
        setOpen(true);
      }}
      data-testid="cluster-add"
    >
      <Plus /> New cluster
    </Button>
  ) : undefined;

  let body;
  if (clusters.isError) body = <ErrorState error={clusters.error} title="Couldn't load clusters" onRetry={() => void clusters.refetch()} />;
  else if (clusters.isPending) body = <Skeleton className="h-20 w-full" />;
  else if (clusters.data.items.length === 0)
    body = <EmptyState icon={Network} title="No clusters yet" description="Group nodes into a cluster to let the scheduler choose among them." action={add} />;
  else
    body = (
      <Table data-testid="clusters-table">
        <TableHeader>
          <TableRow className="hover:bg-transparent">
            <TableHead>Name</TableHead>
            <TableHead>Members</TableHead>
            <TableHead>Labels</TableHead>
            <TableHead className="text-right">Services</TableHead>
            {canManage && <TableHead className="w-20"><span className="sr-only">Actions</span></TableHead>}
          </TableRow>
        </TableHeader>
        <TableBody>
          {clusters.data.items.map((c) => (
            <TableRow key={c.id} data-testid="cluster-row">
              <TableCell>
                <span className="font-medium">{c.name}</span>
                {c.description && <div className="text-xs text-muted-foreground">{c.description}</div>}
              </TableCell>
              <TableCell>
                <div className="flex flex-wrap gap-1">
                  {c.nodes.length === 0 ? <span className="text-muted-foreground">none</span> : c.nodes.map((n) => <Badge key={n.id}>{n.name}</Badge>)}
                </div>
              </TableCell>
              <TableCell>
                <LabelPills labels={c.labels} max={4} />
              </TableCell>
              <TableCell className="text-right tabular-nums">{c.services}</TableCell>
              {canManage && (
                <TableCell className="py-1.5">
                  <div className="flex justify-end gap-1">
                    <Button
                      variant="ghost"
                      size="icon"
                      aria-label={`Edit ${c.name}`}
                      onClick={() => {
                        setEditing(c);
                        setOpen(true);
                      }}
                      data-testid="cluster-edit"
                    >
                      <Pencil />
                    </Button>
                    <Button variant="ghost" size="icon" aria-label={`Delete ${c.name}`} onClick={() => setDeleting(c)} data-testid="cluster-delete">
                      <Trash2 />
                    </Button>
                  </div>
                </TableCell>
              )}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    );

  return (
    <Card>
      <CardHeader className="flex flex-row items-start justify-between gap-4">
        <div>
          <CardTitle>Clusters</CardTitle>
          <CardDescription>Named groups of nodes with labels; services can target a cluster.</CardDescription>
        </div>
        {clusters.data?.items.length ? add : null}
      </CardHeader>
      <CardContent>{body}</CardContent>
      {canManage && <ClusterDialog open={open} onOpenChange={setOpen} cluster={editing} nodes={nodes} />}
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description="Services that targeted it stay on the node they run on."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => {
          if (deleting) remove.mutate(deleting.id);
        }}
      />
    </Card>
  );
}

function PortsCard({ nodes, canManage }: { nodes: NodeView[]; canManage: boolean }) {
  const ids = useId();
  const queryClient = useQueryClient();
  const [nodeId, setNodeId] = useState<number | null>(null);
  const selected = nodeId ?? nodes[0]?.id ?? null;
  const ranges = usePortRanges(selected);
  const allocations = usePortAllocations(selected);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (ranges.data) setText(ranges.data.default ? "" : formatRanges(ranges.data.ranges));
    setError(null);
  }, [ranges.data]);

  const save = useMutation({
    mutationFn: () => {
      const parsed = parseRanges(text);
      if (parsed.errors.length) throw new Error(parsed.errors.join("; "));
      return placementApi.setRanges(selected ?? 0, parsed.value);
    },
    meta: { toast: (err: unknown) => isApiError(err) && err.status !== 422 },
    onMutate: () => setError(null),
    onError: (err) => setError(err instanceof Error ? err.message : "Saving failed."),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: placementKeys.ranges(selected ?? 0) });
      toast("Saved the port ranges");
    },
  });

  return (
    <Card>
      <CardHeader>
        <CardTitle>Host ports</CardTitle>
        <CardDescription>
          Ports written as <code className="font-mono">auto</code> (like <code className="font-mono">"127.0.0.1:auto:80"</code>) get a free port from the node's ranges. Every published host
          port is recorded, so two services never get the same one.
        </CardDescription>
      </CardHeader>
      <CardContent className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-[14rem_1fr]">
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-node`}>Node</Label>
            <NativeSelect id={`${ids}-node`} value={selected ?? ""} onChange={(e) => setNodeId(Number(e.target.value))} data-testid="ports-node">
              {nodes.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name}
                </option>
              ))}
            </NativeSelect>
          </div>
          <form
            className="space-y-1.5"
            onSubmit={(e) => {
              e.preventDefault();
              if (canManage && !save.isPending) save.mutate();
            }}
          >
            <Label htmlFor={`${ids}-ranges`}>Allowed ranges</Label>
            <div className="flex gap-2">
              <Input
                id={`${ids}-ranges`}
                value={text}
                onChange={(e) => setText(e.target.value)}
                placeholder={ranges.data ? `default: ${formatRanges(ranges.data.ranges)}` : ""}
                className="font-mono"
                disabled={!canManage}
                data-testid="ports-ranges"
              />
              {canManage && (
                <Button type="submit" variant="outline" disabled={save.isPending || selected === null} data-testid="ports-save">
                  {save.isPending && <Loader2 className="animate-spin" />} Save
                </Button>
              )}
            </div>
            <p className="text-xs text-muted-foreground">
              {ranges.data?.default ? "This node uses the default range. " : ""}Comma-separated, within 1024-65535; empty restores the default.
            </p>
            <FormError message={error} testId="ports-form-error" />
          </form>
        </div>
        {allocations.isError ? (
          <ErrorState error={allocations.error} title="Couldn't load the allocations" onRetry={() => void allocations.refetch()} />
        ) : allocations.data && allocations.data.items.length === 0 ? (
          <p className="text-sm text-muted-foreground" data-testid="ports-empty">
            No host ports are allocated on this node.
          </p>
        ) : (
          <Table data-testid="allocations-table">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Host port</TableHead>
                <TableHead>Service</TableHead>
                <TableHead>Published for</TableHead>
                <TableHead>How</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {(allocations.data?.items ?? []).map((a) => (
                <TableRow key={`${a.host_port}/${a.protocol}`} data-testid="allocation-row">
                  <TableCell className="font-mono">
                    {a.host_ip ? `${a.host_ip}:` : ""}
                    {a.host_port}/{a.protocol}
                  </TableCell>
                  <TableCell>{a.service_name ?? <span className="text-muted-foreground">another user's service</span>}</TableCell>
                  <TableCell className="font-mono text-xs">{a.port_key}</TableCell>
                  <TableCell>{a.auto ? <Badge tone="accent">auto</Badge> : <Badge>fixed</Badge>}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}

const SAMPLE = `services:
  web:
    image: nginx:alpine
    mem_limit: 256m
    cpus: 0.5
    ports:
      - "127.0.0.1:auto:80"
`;

function PreviewCard({ nodes }: { nodes: NodeView[] }) {
  const ids = useId();
  const clusters = useClusters();
  const [compose, setCompose] = useState(SAMPLE);
  const [target, setTarget] = useState("auto");
  const [labels, setLabels] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<PlacementExplanation | null>(null);
  const preview = useMutation({
    mutationFn: () => {
      const parsed = parseLabels(labels);
      if (parsed.errors.length) throw new Error(parsed.errors.join("; "));
      return placementApi.preview({
        compose,
        ...targetFields(targetFromValue(target)),
        placement: { constraints: { labels: parsed.value } },
      });
    },
    meta: { toast: (err: unknown) => isApiError(err) && err.status >= 500 },
    onMutate: () => {
      setError(null);
      setResult(null);
    },
    onError: (err) => setError(err instanceof Error ? err.message : "The preview failed."),
    onSuccess: setResult,
  });
  return (
    <Card>
      <CardHeader>
        <CardTitle>Placement preview</CardTitle>
        <CardDescription>
          Dry-run the scheduler: it keeps the nodes that are online, in the cluster, carry the labels and have the CPU, memory, GPUs and fixed host ports free, then picks the one with the
          most room left (the mean of the free CPU and memory shares).
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form
          className="grid gap-4 lg:grid-cols-2"
          onSubmit={(e) => {
            e.preventDefault();
            preview.mutate();
          }}
        >
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-compose`}>Compose definition</Label>
            <Textarea id={`${ids}-compose`} value={compose} onChange={(e) => setCompose(e.target.value)} rows={12} className="font-mono text-xs" spellCheck={false} data-testid="preview-compose" />
          </div>
          <div className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-target`}>Target</Label>
              <NativeSelect id={`${ids}-target`} value={target} onChange={(e) => setTarget(e.target.value)} data-testid="preview-target">
                <option value="auto">Automatic (any node)</option>
                {(clusters.data?.items ?? []).map((c) => (
                  <option key={`c${c.id}`} value={`cluster:${c.id}`}>
                    Cluster {c.name}
                  </option>
                ))}
                {nodes.map((n) => (
                  <option key={`n${n.id}`} value={`node:${n.id}`}>
                    Node {n.name}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-labels`}>Required node labels</Label>
              <Input id={`${ids}-labels`} value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="disk=ssd, zone=a" className="font-mono" data-testid="preview-labels" />
            </div>
            <Button type="submit" disabled={preview.isPending} data-testid="preview-run">
              {preview.isPending ? <Loader2 className="animate-spin" /> : <Wand2 />} Preview placement
            </Button>
            <FormError message={error} testId="preview-error" />
            {result && <PlacementExplanationView explanation={result} testId="preview-explanation" />}
          </div>
        </form>
      </CardContent>
    </Card>
  );
}

export function PlacementPage() {
  usePageTitle("Placement");
  const nodes = useNodeList();
  const canManage = useCan("nodes:manage");
  const canPreview = useCan("services:create");
  const items = nodes.data?.items ?? [];
  return (
    <div className="space-y-6">
      <PageHeader description="Clusters, host port ranges and allocations, and where the scheduler would place a service." />
      {nodes.isError ? (
        <ErrorState error={nodes.error} title="Couldn't load nodes" onRetry={() => void nodes.refetch()} />
      ) : nodes.isPending ? (
        <Skeleton className="h-40 w-full" />
      ) : (
        <>
          <ClustersCard nodes={items} canManage={canManage} />
          <PortsCard nodes={items} canManage={canManage} />
          {canPreview && <PreviewCard nodes={items} />}
        </>
      )}
    </div>
  );
}
