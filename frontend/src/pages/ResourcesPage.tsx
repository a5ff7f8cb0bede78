import { useQueryClient } from "@tanstack/react-query";
import { Box, Download, Eraser, HardDrive, Network, Package, Plus, Search, Trash2 } from "lucide-react";
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { imagesApi, resourceKeys, useImages, useNetworks, useVolumes, type ContainerRef, type ServiceRef } from "@/api/images";
import { isApiError } from "@/api/errors";
import { useNodes } from "@/api/queries";
import type { Node } from "@/api/types";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { CleanupDialog } from "@/components/images/CleanupDialog";
import { PullDialog } from "@/components/images/PullDialog";
import { RemoveDialog } from "@/components/images/RemoveDialog";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tabs, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { imageName, imageRemoveRef } from "@/lib/cleanup";
import { formatBytes, formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

type Tab = "images" | "volumes" | "networks";
const TABS: { key: Tab; label: string; icon: typeof Package }[] = [
  { key: "images", label: "Images", icon: Package },
  { key: "volumes", label: "Volumes", icon: HardDrive },
  { key: "networks", label: "Networks", icon: Network },
];

function pickNode(nodes: readonly Node[], fromUrl: string | null): Node | null {
  const wanted = fromUrl ? Number(fromUrl) : NaN;
  return nodes.find((n) => n.id === wanted) ?? nodes.find((n) => n.kind === "local") ?? nodes[0] ?? null;
}

function useDebounced(value: string, ms = 300): string {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Containers and the Dockyard services (linked) that use an object. */
function UsedBy({ containers, services }: { containers: ContainerRef[]; services: ServiceRef[] }) {
  if (containers.length === 0 && services.length === 0) return <span className="text-muted-foreground">—</span>;
  const loose = containers.filter((c) => c.service_id == null);
  return (
    <div className="flex max-w-72 flex-wrap gap-1" data-testid="used-by">
      {services.map((s) => (
        <Link key={s.id} to={`/services/${s.id}`} className="text-sm font-medium text-primary hover:underline" data-testid="used-by-service">
          {s.name}
        </Link>
      ))}
      {loose.slice(0, 3).map((c) => (
        <Badge key={c.id} tone="mono" title={`${c.name} (${c.state})`}>
          {c.name}
        </Badge>
      ))}
      {loose.length > 3 && <span className="text-xs text-muted-foreground">+{loose.length - 3} more</span>}
    </div>
  );
}

function LoadingCard() {
  return (
    <Card className="space-y-3 p-5" aria-busy="true">
      {Array.from({ length: 4 }, (_, i) => (
        <Skeleton key={i} className="h-8 w-full" />
      ))}
    </Card>
  );
}

function ImagesTab({ node, search }: { node: Node; search: string }) {
  const images = useImages(node.id, search);
  const [removing, setRemoving] = useState<{ ref: string; name: string; inUse: boolean } | null>(null);
  const queryClient = useQueryClient();
  if (images.isPending) return <LoadingCard />;
  if (images.isError && !images.data) return <ErrorState error={images.error} title="Couldn't list images" onRetry={() => void images.refetch()} />;
  const items = images.data.items;
  if (items.length === 0) return <EmptyState icon={Package} title={search ? "No image matches" : "No images"} description={search ? "Try another search." : "Pull an image to get started."} />;
  return (
    <>
      <p className="mb-2 text-xs text-muted-foreground" data-testid="images-total">
        {images.data.total} image{images.data.total === 1 ? "" : "s"} · {formatBytes(images.data.size_bytes)}
      </p>
      <Card className="overflow-x-auto">
        <Table data-testid="images-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Repository:tag</TableHead>
              <TableHead>Id</TableHead>
              <TableHead className="text-right">Size</TableHead>
              <TableHead>Created</TableHead>
              <TableHead>Used by</TableHead>
              <TableHead className="w-10"><span className="sr-only">Actions</span></TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {items.map((img) => (
              <TableRow key={img.id} data-testid="image-row" data-image={imageName(img)}>
                <TableCell>
                  <div className="flex flex-wrap items-center gap-2">
                    <span className="font-mono text-[13px] font-medium">{imageName(img)}</span>
                    {img.dangling && <Badge tone="warning">dangling</Badge>}
                  </div>
                  {img.repo_tags.length > 1 && (
                    <div className="max-w-md font-mono text-[11px] text-muted-foreground" title={img.repo_tags.join("\n")}>
                      {img.repo_tags.slice(1, 4).join(", ")}
                      {img.repo_tags.length > 4 && ` +${img.repo_tags.length - 4} more`}
                    </div>
                  )}
                </TableCell>
                <TableCell className="font-mono text-[12px] text-muted-foreground" title={img.id}>{img.short_id}</TableCell>
                <TableCell className="text-right whitespace-nowrap tabular-nums">{formatBytes(img.size_bytes)}</TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(img.created)}>{formatRelative(img.created)}</TableCell>
                <TableCell><UsedBy containers={img.containers} services={img.services} /></TableCell>
                <TableCell>
                  <Button
                    variant="ghost"
                    size="icon"
                    aria-label={`Remove ${imageName(img)}`}
                    data-testid="image-remove"
                    onClick={() => setRemoving({ ref: imageRemoveRef(img), name: imageName(img) === "<none>" ? img.short_id : imageName(img), inUse: img.in_use })}
                  >
                    <Trash2 />
                  </Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
      <RemoveDialog
        open={removing !== null}
        onOpenChange={(o) => !o && setRemoving(null)}
        title={`Remove ${removing?.name ?? "image"}?`}
        description={removing?.inUse ? "Containers use this image; the removal is refused unless forced." : "The image is removed from this node."}
        allowForce
        onRemove={async (force) => {
          await imagesApi.removeImage(node.id, removing!.ref, force);
          await queryClient.invalidateQueries({ queryKey: resourceKeys.all });
        }}
      />
    </>
  );
}

function VolumesTab({ node, search }: { node: Node; search: string }) {
  const [sizes, setSizes] = useState(false);
  const volumes = useVolumes(node.id, search, sizes);
  const [removing, setRemoving] = useState<string | null>(null);
  const queryClient = useQueryClient();
  return (
    <>
      <label className="mb-2 flex items-center gap-2 text-xs text-muted-foreground">
        <Checkbox checked={sizes} onChange={(e) => setSizes(e.target.checked)} data-testid="volume-sizes" /> Show sizes (slow on big hosts)
      </label>
      {volumes.isPending ? (
        <LoadingCard />
      ) : volumes.isError && !volumes.data ? (
        <ErrorState error={volumes.error} title="Couldn't list volumes" onRetry={() => void volumes.refetch()} />
      ) : volumes.data.items.length === 0 ? (
        <EmptyState icon={HardDrive} title="No volumes" description="Named volumes of services and those you create appear here." />
      ) : (
        <Card className="overflow-x-auto">
          <Table data-testid="volumes-table">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>Name</TableHead>
                <TableHead>Driver</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>Created</TableHead>
                <TableHead>Used by</TableHead>
                <TableHead className="w-10"><span className="sr-only">Actions</span></TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {volumes.data.items.map((v) => (
                <TableRow key={v.name} data-testid="volume-row">
                  <TableCell className="max-w-80 truncate font-mono text-[13px]" title={v.name}>{v.name}</TableCell>
                  <TableCell>{v.driver}</TableCell>
                  <TableCell className="text-right tabular-nums">{v.size_bytes == null ? "—" : formatBytes(v.size_bytes)}</TableCell>
                  <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(v.created)}>{formatRelative(v.created)}</TableCell>
                  <TableCell><UsedBy containers={v.containers} services={v.services} /></TableCell>
                  <TableCell>
                    <Button variant="ghost" size="icon" aria-label={`Remove ${v.name}`} onClick={() => setRemoving(v.name)} data-testid="volume-remove">
                      <Trash2 />
                    </Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Card>
      )}
      <RemoveDialog
        open={removing !== null}
        onOpenChange={(o) => !o && setRemoving(null)}
        title={`Remove volume ${removing ?? ""}?`}
        description="Its data is deleted for good. A volume any container or service uses is refused."
        onRemove={async () => {
          await imagesApi.removeVolume(node.id, removing!);
          await queryClient.invalidateQueries({ queryKey: resourceKeys.all });
        }}
      />
    </>
  );
}

function NetworksTab({ node, search }: { node: Node; search: string }) {
  const networks = useNetworks(node.id, search);
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null);
  const queryClient = useQueryClient();
  if (networks.isPending) return <LoadingCard />;
  if (networks.isError && !networks.data) return <ErrorState error={networks.error} title="Couldn't list networks" onRetry={() => void networks.refetch()} />;
  return (
    <>
      <Card className="overflow-x-auto">
        <Table data-testid="networks-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Name</TableHead>
              <TableHead>Driver</TableHead>
              <TableHead>Subnets</TableHead>
              <TableHead>Created</TableHead>
              <TableHead>Used by</TableHead>
              <TableHead className="w-10"><span className="sr-only">Actions</span></TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {networks.data.items.map((n) => (
              <TableRow key={n.id} data-testid="network-row">
                <TableCell>
                  <div className="flex items-center gap-2">
                    <span className="font-mono text-[13px]">{n.name}</span>
                    {n.builtin && <Badge>built-in</Badge>}
                    {n.internal && <Badge tone="accent">internal</Badge>}
                  </div>
                  <div className="font-mono text-[11px] text-muted-foreground">{n.short_id}</div>
                </TableCell>
                <TableCell>{n.driver}</TableCell>
                <TableCell className="font-mono text-[12px]">{n.subnets.join(", ") || "—"}</TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(n.created)}>{formatRelative(n.created)}</TableCell>
                <TableCell><UsedBy containers={n.containers} services={n.services} /></TableCell>
                <TableCell>
                  {!n.builtin && (
                    <Button variant="ghost" size="icon" aria-label={`Remove ${n.name}`} onClick={() => setRemoving({ id: n.id, name: n.name })} data-testid="network-remove">
                      <Trash2 />
                    </Button>
                  )}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
      <RemoveDialog
        open={removing !== null}
        onOpenChange={(o) => !o && setRemoving(null)}
        title={`Remove network ${removing?.name ?? ""}?`}
        description="A network any container or service uses is refused."
        onRemove={async () => {
          await imagesApi.removeNetwork(node.id, removing!.id);
          await queryClient.invalidateQueries({ queryKey: resourceKeys.all });
        }}
      />
    </>
  );
}

/** Create a volume or a network by name. */
function CreateDialog({ kind, node, open, onOpenChange }: { kind: "volumes" | "networks"; node: Node; open: boolean; onOpenChange: (o: boolean) => void }) {
  const [name, setName] = useState("");
  const [subnet, setSubnet] = useState("");
  const [internal, setInternal] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const queryClient = useQueryClient();
  useEffect(() => {
    if (open) {
      setName("");
      setSubnet("");
      setInternal(false);
      setError(null);
    }
  }, [open]);
  const noun = kind === "volumes" ? "volume" : "network";
  const submit = async () => {
    setPending(true);
    setError(null);
    try {
      if (kind === "volumes") await imagesApi.createVolume(node.id, name.trim());
      else await imagesApi.createNetwork(node.id, { name: name.trim(), internal, subnet: subnet.trim() || null });
      await queryClient.invalidateQueries({ queryKey: resourceKeys.all });
      onOpenChange(false);
    } catch (err) {
      setError(isApiError(err) ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent data-testid="create-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <DialogHeader>
            <DialogTitle>Create a {noun}</DialogTitle>
            <DialogDescription>On {node.name}.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-3">
            <div className="space-y-1.5">
              <Label htmlFor="create-name">Name</Label>
              <Input id="create-name" value={name} onChange={(e) => setName(e.target.value)} className="font-mono" autoFocus data-testid="create-name" />
            </div>
            {kind === "networks" && (
              <>
                <div className="space-y-1.5">
                  <Label htmlFor="create-subnet">Subnet (optional)</Label>
                  <Input id="create-subnet" value={subnet} onChange={(e) => setSubnet(e.target.value)} placeholder="172.30.5.0/24" className="font-mono" />
                </div>
                <label className="flex items-center gap-2 text-sm">
                  <Checkbox checked={internal} onChange={(e) => setInternal(e.target.checked)} /> Internal (no outside access)
                </label>
              </>
            )}
            {error && <p role="alert" className="text-sm text-destructive">{error}</p>}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={pending || !name.trim()}>
              <Plus /> Create
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

export function ResourcesPage() {
  const { tab: tabParam } = useParams();
  const tab: Tab = tabParam === "volumes" || tabParam === "networks" ? tabParam : "images";
  usePageTitle(TABS.find((t) => t.key === tab)!.label);
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const nodes = useNodes();
  const node = pickNode(nodes.data?.items ?? [], params.get("node"));
  const [draft, setDraft] = useState("");
  const search = useDebounced(draft.trim());
  const [dialog, setDialog] = useState<"pull" | "cleanup" | "create" | null>(null);

  const setNode = (id: string) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        next.set("node", id);
        return next;
      },
      { replace: true },
    );

  const actions = node && (
    <>
      {tab === "images" ? (
        <Button variant="outline" onClick={() => setDialog("pull")} data-testid="pull-button">
          <Download /> Pull
        </Button>
      ) : (
        <Button variant="outline" onClick={() => setDialog("create")} data-testid="create-button">
          <Plus /> Create {tab === "volumes" ? "volume" : "network"}
        </Button>
      )}
      <Button onClick={() => setDialog("cleanup")} data-testid="cleanup-button">
        <Eraser /> Clean up
      </Button>
    </>
  );

  let body;
  if (nodes.isPending) body = <LoadingCard />;
  else if (nodes.isError && !nodes.data) body = <ErrorState error={nodes.error} title="Couldn't load nodes" onRetry={() => void nodes.refetch()} />;
  else if (!node) body = <EmptyState icon={Box} title="No nodes yet" description="Images, volumes and networks are listed per node." />;
  else if (tab === "images") body = <ImagesTab node={node} search={search} />;
  else if (tab === "volumes") body = <VolumesTab node={node} search={search} />;
  else body = <NetworksTab node={node} search={search} />;

  return (
    <div>
      <PageHeader description="Images, volumes and networks on each node" actions={actions} />
      <Tabs value={tab} onValueChange={(v) => void navigate({ pathname: v === "images" ? "/images" : `/images/${v}`, search: params.toString() })}>
        <TabsList className="mb-4">
          {TABS.map((t) => (
            <TabsTrigger key={t.key} value={t.key} data-testid={`tab-${t.key}`}>
              <t.icon /> {t.label}
            </TabsTrigger>
          ))}
        </TabsList>
      </Tabs>
      <div className="mb-4 flex flex-col gap-2 sm:flex-row sm:items-center" role="search">
        {(nodes.data?.items.length ?? 0) > 1 && (
          <NativeSelect className="sm:w-56" value={node?.id ?? ""} onChange={(e) => setNode(e.target.value)} aria-label="Node" data-testid="node-select">
            {nodes.data!.items.map((n) => (
              <option key={n.id} value={n.id}>
                {n.name}
              </option>
            ))}
          </NativeSelect>
        )}
        {node && (nodes.data?.items.length ?? 0) <= 1 && <span className="text-sm text-muted-foreground">Node <span className="font-medium text-foreground">{node.name}</span></span>}
        <div className="relative sm:ml-auto sm:max-w-xs sm:flex-1">
          <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" />
          <Input type="search" placeholder={`Search ${tab}`} aria-label={`Search ${tab}`} className="pl-8" value={draft} onChange={(e) => setDraft(e.target.value)} data-testid="resource-search" />
        </div>
      </div>
      {body}
      {node && (
        <>
          <PullDialog nodeId={node.id} nodeName={node.name} open={dialog === "pull"} onOpenChange={(o) => setDialog(o ? "pull" : null)} />
          <CleanupDialog nodeId={node.id} nodeName={node.name} open={dialog === "cleanup"} onOpenChange={(o) => setDialog(o ? "cleanup" : null)} />
          {tab !== "images" && <CreateDialog kind={tab} node={node} open={dialog === "create"} onOpenChange={(o) => setDialog(o ? "create" : null)} />}
        </>
      )}
    </div>
  );
}
