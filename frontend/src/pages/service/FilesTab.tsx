import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, Download, File, FilePen, Folder, FolderPlus, Link2, Loader2, Pencil, RefreshCw, Trash2, Upload } from "lucide-react";
import { useRef, useState } from "react";
import { toast } from "sonner";
import { breadcrumbs, containerFilesApi, joinPath, type FileEntry } from "@/api/containerFiles";
import { showErrorToast } from "@/api/queryClient";
import type { ServiceDetail } from "@/api/types";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function EntryIcon({ type }: { type: FileEntry["type"] }) {
  if (type === "dir") return <Folder className="size-4 text-sky-600" />;
  if (type === "symlink") return <Link2 className="size-4 text-violet-600" />;
  return <File className="size-4 text-muted-foreground" />;
}

/** Browse and edit a container's files (Docker archive API; works on stopped containers). */
export function FilesTab({ service }: { service: ServiceDetail }) {
  const containers = service.containers;
  const [container, setContainer] = useState<string>(containers[0]?.id ?? "");
  const [path, setPath] = useState("/");
  const [editing, setEditing] = useState<{ path: string; content: string; original: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const [naming, setNaming] = useState<{ kind: "mkdir" | "rename"; entry?: FileEntry; value: string } | null>(null);
  const [deleting, setDeleting] = useState<FileEntry | null>(null);
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const qc = useQueryClient();
  const nodeId = service.node_id;
  const key = ["container-files", nodeId, container, path];
  const listing = useQuery({
    queryKey: key,
    queryFn: () => containerFilesApi.list(nodeId, container, path),
    enabled: Boolean(container),
    meta: { toast: false },
  });
  const refresh = () => void qc.invalidateQueries({ queryKey: ["container-files", nodeId, container] });

  async function open(entry: FileEntry) {
    const target = joinPath(path, entry.name);
    if (entry.type === "dir") {
      setPath(target);
      return;
    }
    try {
      const file = await containerFilesApi.read(nodeId, container, target);
      setEditing({ path: target, content: file.content, original: file.content });
    } catch (err) {
      showErrorToast(err);
    }
  }

  async function save() {
    if (!editing) return;
    setSaving(true);
    try {
      await containerFilesApi.write(nodeId, container, editing.path, editing.content);
      toast.success("Saved");
      setEditing(null);
      refresh();
    } catch (err) {
      showErrorToast(err);
    } finally {
      setSaving(false);
    }
  }

  async function submitName() {
    if (!naming) return;
    setBusy(true);
    try {
      if (naming.kind === "mkdir") await containerFilesApi.mkdir(nodeId, container, path, naming.value);
      else if (naming.entry) await containerFilesApi.rename(nodeId, container, joinPath(path, naming.entry.name), naming.value);
      setNaming(null);
      refresh();
    } catch (err) {
      showErrorToast(err);
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!deleting) return;
    setBusy(true);
    try {
      await containerFilesApi.remove(nodeId, container, joinPath(path, deleting.name));
      setDeleting(null);
      refresh();
    } catch (err) {
      showErrorToast(err);
    } finally {
      setBusy(false);
    }
  }

  async function upload(file: File) {
    setProgress(0);
    try {
      await containerFilesApi.upload(nodeId, container, path, file, setProgress);
      toast.success(`Uploaded ${file.name}`);
      refresh();
    } catch (err) {
      showErrorToast(err);
    } finally {
      setProgress(null);
      if (fileInput.current) fileInput.current.value = "";
    }
  }

  if (containers.length === 0) return <EmptyState icon={Folder} title="No container" description="Deploy the service to browse its files." />;

  return (
    <div className="space-y-3" data-testid="files-tab">
      <div className="flex flex-wrap items-center gap-2">
        <NativeSelect aria-label="Container" value={container} onChange={(e) => { setContainer(e.target.value); setPath("/"); }} className="w-80">
          {containers.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name} ({c.state})
            </option>
          ))}
        </NativeSelect>
        <Button variant="outline" size="sm" onClick={refresh} aria-label="Refresh">
          <RefreshCw className="size-4" />
        </Button>
        <Button variant="outline" size="sm" onClick={() => setNaming({ kind: "mkdir", value: "" })} data-testid="files-mkdir">
          <FolderPlus className="size-4" /> New folder
        </Button>
        <Button variant="outline" size="sm" onClick={() => fileInput.current?.click()} disabled={progress !== null} data-testid="files-upload">
          <Upload className="size-4" /> {progress !== null ? `Uploading ${Math.round(progress * 100)}%` : "Upload"}
        </Button>
        <input ref={fileInput} type="file" className="hidden" data-testid="files-upload-input" onChange={(e) => e.target.files?.[0] && void upload(e.target.files[0])} />
        <Button variant="outline" size="sm" onClick={() => void containerFilesApi.download(nodeId, container, path, "folder.tar").catch(showErrorToast)}>
          <Download className="size-4" /> Download folder
        </Button>
      </div>
      <nav aria-label="Path" className="flex flex-wrap items-center gap-1 font-mono text-sm" data-testid="files-breadcrumb">
        {breadcrumbs(path).map(([label, target], i) => (
          <span key={target} className="flex items-center gap-1">
            {i > 0 && <ChevronRight className="size-3 text-muted-foreground" />}
            <button type="button" className="rounded px-1 hover:bg-accent" onClick={() => setPath(target)}>
              {label}
            </button>
          </span>
        ))}
      </nav>
      {listing.isError ? (
        <ErrorState error={listing.error} onRetry={() => void listing.refetch()} />
      ) : (
        <Table data-testid="files-table">
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead className="w-28 text-right">Size</TableHead>
              <TableHead className="w-32">Mode</TableHead>
              <TableHead className="w-44">Modified</TableHead>
              <TableHead className="w-48 text-right">Actions</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {listing.isLoading && (
              <TableRow>
                <TableCell colSpan={5}>
                  <Loader2 className="size-4 animate-spin" />
                </TableCell>
              </TableRow>
            )}
            {path !== "/" && (
              <TableRow>
                <TableCell colSpan={5}>
                  <button type="button" className="font-mono text-sm hover:underline" onClick={() => setPath(breadcrumbs(path).at(-2)?.[1] ?? "/")}>
                    ..
                  </button>
                </TableCell>
              </TableRow>
            )}
            {listing.data?.entries.map((e) => (
              <TableRow key={e.name} data-testid="file-row" data-name={e.name}>
                <TableCell>
                  <button type="button" className="flex items-center gap-2 font-mono text-sm hover:underline disabled:no-underline" disabled={e.type === "other" || e.type === "symlink"} onClick={() => void open(e)}>
                    <EntryIcon type={e.type} />
                    {e.name}
                    {e.link_target && <span className="text-muted-foreground">→ {e.link_target}</span>}
                    {e.type === "other" && <span className="text-xs text-muted-foreground">(special file)</span>}
                  </button>
                </TableCell>
                <TableCell className="text-right tabular-nums">{e.type === "file" ? formatSize(e.size) : ""}</TableCell>
                <TableCell className="font-mono text-xs">{e.mode_text}</TableCell>
                <TableCell className="text-xs">{e.mtime ? new Date(e.mtime).toLocaleString() : ""}</TableCell>
                <TableCell className="text-right whitespace-nowrap">
                  {e.type === "file" && (
                    <Button variant="ghost" size="icon" aria-label={`Edit ${e.name}`} onClick={() => void open(e)}>
                      <FilePen className="size-4" />
                    </Button>
                  )}
                  {e.type !== "other" && (
                    <Button variant="ghost" size="icon" aria-label={`Download ${e.name}`} onClick={() => void containerFilesApi.download(nodeId, container, joinPath(path, e.name), e.name).catch(showErrorToast)}>
                      <Download className="size-4" />
                    </Button>
                  )}
                  <Button variant="ghost" size="icon" aria-label={`Rename ${e.name}`} onClick={() => setNaming({ kind: "rename", entry: e, value: e.name })}>
                    <Pencil className="size-4" />
                  </Button>
                  <Button variant="ghost" size="icon" aria-label={`Delete ${e.name}`} onClick={() => setDeleting(e)}>
                    <Trash2 className="size-4" />
                  </Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {listing.data?.truncated && <p className="text-sm text-amber-700 dark:text-amber-400">Not every entry is listed (entry or scan limit reached).</p>}

      <Dialog open={editing !== null} onOpenChange={(o) => !o && !saving && setEditing(null)}>
        <DialogContent className="max-w-4xl" aria-describedby={undefined}>
          <DialogHeader>
            <DialogTitle className="font-mono text-sm">{editing?.path}</DialogTitle>
          </DialogHeader>
          <DialogBody>
            <Textarea
              aria-label="File content"
              data-testid="file-editor"
              className="h-[28rem] font-mono text-xs"
              spellCheck={false}
              value={editing?.content ?? ""}
              onChange={(e) => setEditing((cur) => (cur ? { ...cur, content: e.target.value } : cur))}
            />
          </DialogBody>
          <DialogFooter>
            <Button variant="outline" onClick={() => setEditing(null)} disabled={saving}>
              Close
            </Button>
            <Button onClick={() => void save()} disabled={saving || editing?.content === editing?.original} data-testid="file-save">
              {saving && <Loader2 className="size-4 animate-spin" />} Save
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>

      <Dialog open={naming !== null} onOpenChange={(o) => !o && !busy && setNaming(null)}>
        <DialogContent aria-describedby={undefined}>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void submitName();
            }}
          >
            <DialogHeader>
              <DialogTitle>{naming?.kind === "mkdir" ? "New folder" : `Rename ${naming?.entry?.name ?? ""}`}</DialogTitle>
            </DialogHeader>
            <DialogBody>
              <Input aria-label="Name" autoFocus value={naming?.value ?? ""} onChange={(e) => setNaming((n) => (n ? { ...n, value: e.target.value } : n))} />
            </DialogBody>
            <DialogFooter>
              <Button type="submit" disabled={busy || !naming?.value}>
                {naming?.kind === "mkdir" ? "Create" : "Rename"}
              </Button>
            </DialogFooter>
          </form>
        </DialogContent>
      </Dialog>

      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description={deleting?.type === "dir" ? "The folder and everything in it is deleted from the container." : "The file is deleted from the container."}
        confirmLabel="Delete"
        destructive
        pending={busy}
        onConfirm={remove}
      />
    </div>
  );
}
