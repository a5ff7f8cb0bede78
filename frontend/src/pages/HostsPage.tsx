import { useMutation, useQueryClient } from "@tanstack/react-query";
import {
  ChevronLeft,
  ChevronRight,
  Download,
  FileUp,
  FilterX,
  Loader2,
  Pencil,
  Plus,
  Server,
  Settings2,
  Tags,
  Terminal,
  Trash2,
  Upload,
} from "lucide-react";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { toast } from "sonner";
import { downloadAuthenticated } from "@/api/client";
import { isApiError } from "@/api/errors";
import {
  hostKeys,
  hostsApi,
  uploadArtifact,
  useHostArtifacts,
  useHostFacets,
  useHosts,
  useSshTemplate,
  type HostFilters,
  type HostOut,
  type ImportResult,
} from "@/api/hosts";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { KeyValueGrid } from "@/components/KeyValue";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Sheet, SheetContent, SheetDescription, SheetHeader, SheetTitle } from "@/components/ui/sheet";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";
import { formatBytes, formatRelative, formatUtc, orDash } from "@/lib/format";
import { CSV_COLUMNS, checkCsvHeader, groupErrorsByRow, importSummary, parseTags, shortSha } from "@/lib/hostsCsv";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { HostSshPanel } from "./hosts/HostSshPanel";

const PAGE_SIZE = 50;
const SEARCH_DEBOUNCE_MS = 300;

function errorMessage(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- create / edit

interface HostForm {
  hostname: string;
  address: string;
  ssh_port: string;
  ssh_user: string;
  bastion: string;
  environment: string;
  tags: string;
  notes: string;
  ssh_template: string;
}

function formOf(host: HostOut | null): HostForm {
  return {
    hostname: host?.hostname ?? "",
    address: host?.address ?? "",
    ssh_port: String(host?.ssh_port ?? 22),
    ssh_user: host?.ssh_user ?? "",
    bastion: host?.bastion ?? "",
    environment: host?.environment ?? "",
    tags: host?.tags.join(", ") ?? "",
    notes: host?.notes ?? "",
    ssh_template: host?.ssh_template ?? "",
  };
}

function HostDialog({ open, onOpenChange, host }: { open: boolean; onOpenChange: (o: boolean) => void; host: HostOut | null }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [form, setForm] = useState<HostForm>(formOf(null));
  const [formError, setFormError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setForm(formOf(host));
      setFormError(null);
    }
  }, [open, host]);
  const set = (key: keyof HostForm) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  const save = useMutation({
    mutationFn: () => {
      const body = {
        hostname: form.hostname,
        address: form.address,
        ssh_port: Number(form.ssh_port) || 22,
        ssh_user: form.ssh_user || null,
        bastion: form.bastion || null,
        environment: form.environment || null,
        tags: parseTags(form.tags),
        notes: form.notes,
        ssh_template: form.ssh_template || null,
      };
      return host ? hostsApi.update(host.id, body) : hostsApi.create(body);
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorMessage(err, "Saving failed.")),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      toast(host ? `Saved ${saved.hostname}` : `Added ${saved.hostname}`);
      onOpenChange(false);
    },
  });

  const field = (key: keyof HostForm, label: string, props: Record<string, unknown> = {}) => (
    <div className="space-y-1.5">
      <Label htmlFor={`${ids}-${key}`}>{label}</Label>
      <Input id={`${ids}-${key}`} value={form[key]} onChange={set(key)} autoCapitalize="off" spellCheck={false} data-testid={`host-${key}`} {...props} />
    </div>
  );

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="host-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{host ? `Edit ${host.hostname}` : "Add a host"}</DialogTitle>
            <DialogDescription>A machine in the inventory: how to reach it over SSH, where it runs and what it is for.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="grid gap-4 sm:grid-cols-2">
              {field("hostname", "Hostname", { required: true, placeholder: "web-1.example.com", className: "font-mono" })}
              {field("address", "Address", { required: true, placeholder: "10.0.0.5 or web-1.internal", className: "font-mono" })}
              {field("ssh_user", "SSH user", { placeholder: "deploy" })}
              {field("ssh_port", "SSH port", { type: "number", min: 1, max: 65535 })}
              {field("bastion", "Bastion", { placeholder: "user@jump.example.com:22", className: "font-mono" })}
              {field("environment", "Environment", { placeholder: "prod" })}
            </div>
            {field("tags", "Tags", { placeholder: "web, eu-west" })}
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-notes`}>Notes</Label>
              <Textarea id={`${ids}-notes`} value={form.notes} onChange={set("notes")} rows={3} data-testid="host-notes" />
            </div>
            {field("ssh_template", "SSH command template (this host only)", { placeholder: "empty: the global template", className: "font-mono" })}
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="host-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending || !form.hostname || !form.address} data-testid="host-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              {host ? "Save" : "Add host"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

// ---------------------------------------------------------------- CSV import

/** A blob's text (FileReader: available wherever File is, unlike Blob.text in older engines). */
function readText(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === "string" ? reader.result : "");
    reader.onerror = () => reject(reader.error ?? new Error("The file could not be read."));
    reader.readAsText(blob);
  });
}

function ImportDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [file, setFile] = useState<File | null>(null);
  const [headerProblem, setHeaderProblem] = useState<string | null>(null);
  const [preview, setPreview] = useState<ImportResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setFile(null);
      setHeaderProblem(null);
      setPreview(null);
      setError(null);
    }
  }, [open]);

  const dryRun = useMutation({
    mutationFn: (f: File) => hostsApi.importCsv(f, true),
    meta: { toast: () => false },
    onMutate: () => {
      setPreview(null);
      setError(null);
    },
    onSuccess: setPreview,
    onError: (err) => setError(errorMessage(err, "The file could not be checked.")),
  });
  const commit = useMutation({
    mutationFn: (f: File) => hostsApi.importCsv(f, false),
    meta: { toast: () => false },
    onError: (err) => setError(errorMessage(err, "The import failed; nothing was imported.")),
    onSuccess: (result) => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      toast(`Imported: ${importSummary(result, groupErrorsByRow(result.errors).length)}`);
      onOpenChange(false);
    },
  });

  const choose = async (f: File | null) => {
    setFile(f);
    setPreview(null);
    setError(null);
    setHeaderProblem(null);
    if (!f) return;
    const check = checkCsvHeader(await readText(f.slice(0, 4096)));
    if (!check.ok) {
      const parts = [];
      if (check.missing.length) parts.push(`missing ${check.missing.join(", ")}`);
      if (check.unknown.length) parts.push(`unknown ${check.unknown.join(", ")}`);
      setHeaderProblem(`The header row is wrong: ${parts.join("; ")}.`);
      return;
    }
    dryRun.mutate(f);
  };

  const rows = preview ? groupErrorsByRow(preview.errors) : [];
  const busy = dryRun.isPending || commit.isPending;
  return (
    <Dialog open={open} onOpenChange={(o) => !commit.isPending && onOpenChange(o)}>
      <DialogContent className="sm:max-w-2xl" data-testid="import-dialog">
        <DialogHeader>
          <DialogTitle>Import hosts from CSV</DialogTitle>
          <DialogDescription>
            Hosts are matched by hostname: existing ones are updated, new ones created. Bad rows are skipped and listed. Nothing is written until you
            press Import.
          </DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-4">
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-file`}>CSV file</Label>
            <Input id={`${ids}-file`} type="file" accept=".csv,text/csv" onChange={(e) => void choose(e.target.files?.[0] ?? null)} data-testid="import-file" />
            <p className="text-xs text-muted-foreground">
              Header row: <span className="font-mono">{CSV_COLUMNS.join(",")}</span>. Separate tags with <span className="font-mono">;</span> or{" "}
              <span className="font-mono">|</span>. An empty port means 22.
            </p>
          </div>
          {headerProblem && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="import-header-error">
              {headerProblem}
            </p>
          )}
          {dryRun.isPending && (
            <p className="flex items-center gap-2 text-sm text-muted-foreground">
              <Loader2 className="size-4 animate-spin" /> Checking every row…
            </p>
          )}
          {error && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="import-error">
              {error}
            </p>
          )}
          {preview && (
            <div className="space-y-3" data-testid="import-preview">
              <div className="flex flex-wrap gap-2">
                <Badge tone="success" data-testid="import-created">
                  {preview.created.toLocaleString("en-US")} to create
                </Badge>
                <Badge tone="accent" data-testid="import-updated">
                  {preview.updated.toLocaleString("en-US")} to update
                </Badge>
                <Badge tone={preview.error_count ? "danger" : "neutral"} data-testid="import-errors">
                  {rows.length.toLocaleString("en-US")} {rows.length === 1 ? "row" : "rows"} with errors
                </Badge>
              </div>
              {rows.length > 0 && (
                <Card className="max-h-72 overflow-auto">
                  <Table data-testid="import-error-table">
                    <TableHeader>
                      <TableRow className="hover:bg-transparent">
                        <TableHead className="w-16">Row</TableHead>
                        <TableHead className="w-32">Field</TableHead>
                        <TableHead>Problem</TableHead>
                      </TableRow>
                    </TableHeader>
                    <TableBody>
                      {rows.flatMap((r) =>
                        r.problems.map((p, i) => (
                          <TableRow key={`${r.row}-${p.field}-${i}`} data-testid="import-error-row">
                            <TableCell className="font-mono tabular-nums">{i === 0 ? r.row : ""}</TableCell>
                            <TableCell className="font-mono text-[13px]">{p.field}</TableCell>
                            <TableCell className="text-sm">{p.message}</TableCell>
                          </TableRow>
                        )),
                      )}
                    </TableBody>
                  </Table>
                </Card>
              )}
              {preview.error_count > preview.errors.length && (
                <p className="text-xs text-muted-foreground">
                  Showing the first {preview.errors.length.toLocaleString("en-US")} of {preview.error_count.toLocaleString("en-US")} problems.
                </p>
              )}
            </div>
          )}
        </DialogBody>
        <DialogFooter>
          <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={commit.isPending}>
            Cancel
          </Button>
          <Button
            onClick={() => file && commit.mutate(file)}
            disabled={busy || !file || !preview || preview.created + preview.updated === 0}
            data-testid="import-commit"
          >
            {commit.isPending && <Loader2 className="animate-spin" />}
            Import {preview ? (preview.created + preview.updated).toLocaleString("en-US") : ""} hosts
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

// ---------------------------------------------------------------- SSH template

function SshTemplateDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const current = useSshTemplate();
  const [template, setTemplate] = useState("");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open && current.data) {
      setTemplate(current.data.template);
      setError(null);
    }
  }, [open, current.data]);
  const save = useMutation({
    mutationFn: () => hostsApi.saveSshTemplate(template),
    meta: { toast: () => false },
    onError: (err) => setError(errorMessage(err, "Saving failed.")),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.sshTemplate() });
      toast("Saved the SSH command template");
      onOpenChange(false);
    },
  });
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent data-testid="ssh-template-dialog">
        <DialogHeader>
          <DialogTitle>SSH command template</DialogTitle>
          <DialogDescription>
            Used by “Copy SSH command” for every host without its own template. Placeholders: <span className="font-mono">{"{{user}} {{host}} {{port}} {{bastion}}"}</span>;{" "}
            <span className="font-mono">{"{{#bastion}}…{{/bastion}}"}</span> is kept only when the host has one. Values are shell-quoted.
          </DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-3">
          <Label htmlFor={`${ids}-tpl`}>Template</Label>
          <Input id={`${ids}-tpl`} value={template} onChange={(e) => setTemplate(e.target.value)} className="font-mono" spellCheck={false} data-testid="ssh-template-input" />
          {current.data && (
            <Button type="button" variant="link" size="sm" className="px-0" onClick={() => setTemplate(current.data.default)}>
              Reset to the default
            </Button>
          )}
          {error && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300">
              {error}
            </p>
          )}
        </DialogBody>
        <DialogFooter>
          <Button variant="outline" onClick={() => onOpenChange(false)}>
            Cancel
          </Button>
          <Button onClick={() => save.mutate()} disabled={save.isPending || !template.trim()} data-testid="ssh-template-save">
            {save.isPending && <Loader2 className="animate-spin" />} Save
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

// ---------------------------------------------------------------- detail drawer with artifacts

function ArtifactsPanel({ host }: { host: HostOut }) {
  const queryClient = useQueryClient();
  const artifacts = useHostArtifacts(host.id);
  const canUpload = useCan("artifacts:upload");
  const canDelete = useCan("artifacts:delete");
  const input = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [uploadName, setUploadName] = useState("");
  const upload = useMutation({
    mutationFn: (file: File) => {
      setUploadName(file.name);
      setProgress(0);
      return uploadArtifact(host.id, file, setProgress);
    },
    onSettled: () => {
      setProgress(null);
      if (input.current) input.current.value = "";
    },
    onSuccess: (a) => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      toast(`Uploaded ${a.filename} (${formatBytes(a.size)})`);
    },
  });
  const remove = useMutation({
    mutationFn: (id: number) => hostsApi.removeArtifact(id),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: hostKeys.all }),
  });

  return (
    <section className="space-y-3" data-testid="artifacts-panel">
      <div className="flex items-center justify-between gap-2">
        <h3 className="text-sm font-semibold">Artifacts</h3>
        {canUpload && (
          <>
            <input ref={input} type="file" className="hidden" onChange={(e) => e.target.files?.[0] && upload.mutate(e.target.files[0])} data-testid="artifact-file" />
            <Button size="sm" variant="outline" onClick={() => input.current?.click()} disabled={upload.isPending} data-testid="artifact-upload">
              {upload.isPending ? <Loader2 className="animate-spin" /> : <Upload />} Upload file
            </Button>
          </>
        )}
      </div>
      {progress !== null && (
        <div className="space-y-1" data-testid="artifact-progress">
          <div className="flex justify-between text-xs text-muted-foreground">
            <span className="truncate">{uploadName}</span>
            <span className="tabular-nums">{Math.round(progress * 100)}%</span>
          </div>
          <div className="h-1.5 overflow-hidden rounded-full bg-muted">
            <div className="h-full bg-primary transition-[width]" style={{ width: `${Math.round(progress * 100)}%` }} />
          </div>
        </div>
      )}
      {artifacts.isError ? (
        <ErrorState error={artifacts.error} title="Couldn't load the artifacts" onRetry={() => void artifacts.refetch()} />
      ) : artifacts.isPending ? (
        <Skeleton className="h-16 w-full" />
      ) : artifacts.data.items.length === 0 ? (
        <p className="text-sm text-muted-foreground">No files yet. Keep configs, backups or install media next to the host they belong to.</p>
      ) : (
        <Card className="overflow-x-auto">
          <Table data-testid="artifacts-table">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                <TableHead>File</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>SHA-256</TableHead>
                <TableHead>Uploaded</TableHead>
                <TableHead className="w-20">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {artifacts.data.items.map((a) => (
                <TableRow key={a.id} data-testid="artifact-row">
                  <TableCell className="max-w-48 truncate font-medium" title={a.filename}>
                    {a.filename}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{formatBytes(a.size)}</TableCell>
                  <TableCell className="font-mono text-[12px]" title={a.sha256}>
                    {shortSha(a.sha256)}
                  </TableCell>
                  <TableCell className="whitespace-nowrap text-muted-foreground" title={`${formatUtc(a.created_at)} by ${orDash(a.uploaded_by_label)}`}>
                    {formatRelative(a.created_at)}
                  </TableCell>
                  <TableCell className="py-1">
                    <div className="flex justify-end gap-1">
                      <Button
                        variant="ghost"
                        size="icon"
                        aria-label={`Download ${a.filename}`}
                        onClick={() => void downloadAuthenticated(`/api/v1/artifacts/${a.id}/download`, a.filename).catch((e: unknown) => toast.error(errorMessage(e, "Download failed.")))}
                      >
                        <Download />
                      </Button>
                      {canDelete && (
                        <Button variant="ghost" size="icon" aria-label={`Delete ${a.filename}`} onClick={() => remove.mutate(a.id)} disabled={remove.isPending}>
                          <Trash2 />
                        </Button>
                      )}
                    </div>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Card>
      )}
    </section>
  );
}

function HostDrawer({ host, onOpenChange }: { host: HostOut | null; onOpenChange: (o: boolean) => void }) {
  const canReadArtifacts = useCan("artifacts:read");
  return (
    <Sheet open={host !== null} onOpenChange={onOpenChange}>
      <SheetContent className="max-w-2xl" data-testid="host-drawer">
        {host && (
          <>
            <SheetHeader>
              <SheetTitle className="font-mono">{host.hostname}</SheetTitle>
              <SheetDescription>
                {host.address}:{host.ssh_port}
                {host.environment ? ` · ${host.environment}` : ""}
              </SheetDescription>
            </SheetHeader>
            <div className="min-h-0 flex-1 space-y-6 overflow-y-auto px-5 py-4">
              <KeyValueGrid
                items={[
                  { label: "Address", value: host.address, mono: true },
                  { label: "SSH port", value: String(host.ssh_port), mono: true },
                  { label: "SSH user", value: orDash(host.ssh_user), mono: true },
                  { label: "Bastion", value: orDash(host.bastion), mono: true },
                  { label: "Environment", value: orDash(host.environment) },
                  { label: "Tags", value: host.tags.length ? host.tags.join(", ") : "—" },
                  { label: "Updated", value: formatRelative(host.updated_at), title: formatUtc(host.updated_at) },
                  { label: "SSH template", value: host.ssh_template ?? "global", mono: host.ssh_template !== null },
                ]}
              />
              {host.notes && <p className="whitespace-pre-wrap rounded-md border bg-muted/40 p-3 text-sm">{host.notes}</p>}
              <HostSshPanel hostId={host.id} hostname={host.hostname} />
              {canReadArtifacts && <ArtifactsPanel host={host} />}
            </div>
          </>
        )}
      </SheetContent>
    </Sheet>
  );
}

// ---------------------------------------------------------------- page

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return debounced;
}

function BulkTagBar({ ids, onDone }: { ids: number[]; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [add, setAdd] = useState("");
  const [remove, setRemove] = useState("");
  const apply = useMutation({
    mutationFn: () => hostsApi.bulkTag(ids, parseTags(add), parseTags(remove)),
    onSuccess: (r) => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      toast(`Tagged ${r.updated} ${r.updated === 1 ? "host" : "hosts"}`);
      setAdd("");
      setRemove("");
      onDone();
    },
  });
  return (
    <Card className="mb-3 flex flex-wrap items-center gap-2 px-3 py-2" data-testid="bulk-bar">
      <Tags className="size-4 text-muted-foreground" />
      <span className="text-sm font-medium">{ids.length} selected</span>
      <Input value={add} onChange={(e) => setAdd(e.target.value)} placeholder="add tags" className="h-8 w-40" data-testid="bulk-add" />
      <Input value={remove} onChange={(e) => setRemove(e.target.value)} placeholder="remove tags" className="h-8 w-40" data-testid="bulk-remove" />
      <Button size="sm" onClick={() => apply.mutate()} disabled={apply.isPending || (!add.trim() && !remove.trim())} data-testid="bulk-apply">
        {apply.isPending && <Loader2 className="animate-spin" />} Apply
      </Button>
      <Button size="sm" variant="ghost" onClick={onDone}>
        Clear selection
      </Button>
    </Card>
  );
}

export function HostsPage() {
  usePageTitle("Hosts");
  const queryClient = useQueryClient();
  const canManage = useCan("hosts:manage");
  const canSsh = useCan("hosts:ssh");
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim(), SEARCH_DEBOUNCE_MS);
  const [environment, setEnvironment] = useState("");
  const [tag, setTag] = useState("");
  const [offset, setOffset] = useState(0);
  const filters: HostFilters = useMemo(() => ({ q, environment, tag, offset, limit: PAGE_SIZE }), [q, environment, tag, offset]);
  useEffect(() => setOffset(0), [q, environment, tag]);
  const hosts = useHosts(filters);
  const facets = useHostFacets();
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [editing, setEditing] = useState<HostOut | null>(null);
  const [dialogOpen, setDialogOpen] = useState(false);
  const [importOpen, setImportOpen] = useState(false);
  const [templateOpen, setTemplateOpen] = useState(false);
  const [deleting, setDeleting] = useState<HostOut | null>(null);
  const [openId, setOpenId] = useState<number | null>(null);
  const openHost = hosts.data?.items.find((h) => h.id === openId) ?? null;

  const remove = useMutation({
    mutationFn: (id: number) => hostsApi.remove(id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      toast(`Deleted ${deleting?.hostname ?? "the host"}`);
      setDeleting(null);
    },
  });
  const copySsh = useMutation({
    mutationFn: (id: number) => hostsApi.sshCommand(id),
    onSuccess: async ({ command }) => {
      if (await copyText(command)) toast("Copied the SSH command", { description: command });
      else toast("Copy this SSH command", { description: command, duration: 15_000 });
    },
  });
  const exportCsv = useMutation({
    mutationFn: () => {
      const params = new URLSearchParams();
      if (q) params.set("q", q);
      if (environment) params.set("environment", environment);
      if (tag) params.set("tag", tag);
      const query = params.toString();
      return downloadAuthenticated(`/api/v1/hosts/export${query ? `?${query}` : ""}`, "hosts.csv");
    },
  });

  const openDialog = (h: HostOut | null) => {
    setEditing(h);
    setDialogOpen(true);
  };
  const toggle = (id: number) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const items = hosts.data?.items ?? [];
  const allOnPage = items.length > 0 && items.every((h) => selected.has(h.id));
  const filtered = Boolean(q || environment || tag);

  const actions = (
    <>
      <Button variant="outline" onClick={() => exportCsv.mutate()} disabled={exportCsv.isPending} data-testid="hosts-export">
        {exportCsv.isPending ? <Loader2 className="animate-spin" /> : <Download />} Export CSV
      </Button>
      {canManage && (
        <>
          <Button variant="outline" onClick={() => setTemplateOpen(true)} data-testid="hosts-ssh-template">
            <Settings2 /> SSH template
          </Button>
          <Button variant="outline" onClick={() => setImportOpen(true)} data-testid="hosts-import">
            <FileUp /> Import CSV
          </Button>
          <Button onClick={() => openDialog(null)} data-testid="host-add">
            <Plus /> Add host
          </Button>
        </>
      )}
    </>
  );

  let body;
  if (hosts.isError) {
    body = <ErrorState error={hosts.error} title="Couldn't load the hosts" onRetry={() => void hosts.refetch()} />;
  } else if (hosts.isPending) {
    body = (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 4 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  } else if (items.length === 0 && !filtered) {
    body = (
      <EmptyState
        icon={Server}
        title="No hosts yet"
        description="Keep an inventory of your machines: addresses, SSH users and bastions, environments and tags. Add them one by one or import a CSV."
        action={canManage ? actions : undefined}
      />
    );
  } else {
    const total = hosts.data.total;
    body = (
      <>
        {selected.size > 0 && canManage && <BulkTagBar ids={[...selected]} onDone={() => setSelected(new Set())} />}
        <Card className="overflow-x-auto">
          <Table data-testid="hosts-table">
            <TableHeader>
              <TableRow className="hover:bg-transparent">
                {canManage && (
                  <TableHead className="w-10">
                    <Checkbox
                      aria-label="Select every host on this page"
                      checked={allOnPage}
                      onChange={() =>
                        setSelected((s) => {
                          const next = new Set(s);
                          for (const h of items) {
                            if (allOnPage) next.delete(h.id);
                            else next.add(h.id);
                          }
                          return next;
                        })
                      }
                    />
                  </TableHead>
                )}
                <TableHead>Hostname</TableHead>
                <TableHead>Address</TableHead>
                <TableHead>SSH user</TableHead>
                <TableHead>Environment</TableHead>
                <TableHead>Tags</TableHead>
                <TableHead className="text-right">Files</TableHead>
                <TableHead className="w-32">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {items.length === 0 && (
                <TableRow>
                  <TableCell colSpan={8} className="py-8 text-center text-sm text-muted-foreground">
                    No host matches these filters.
                  </TableCell>
                </TableRow>
              )}
              {items.map((h) => (
                <TableRow key={h.id} data-testid="host-row" data-hostname={h.hostname}>
                  {canManage && (
                    <TableCell>
                      <Checkbox aria-label={`Select ${h.hostname}`} checked={selected.has(h.id)} onChange={() => toggle(h.id)} data-testid="host-select" />
                    </TableCell>
                  )}
                  <TableCell>
                    <button type="button" className="font-mono text-[13px] font-medium hover:underline" onClick={() => setOpenId(h.id)} data-testid="host-open">
                      {h.hostname}
                    </button>
                  </TableCell>
                  <TableCell className="font-mono text-[13px]">
                    {h.address}
                    {h.ssh_port !== 22 && <span className="text-muted-foreground">:{h.ssh_port}</span>}
                    {h.bastion && (
                      <Badge tone="neutral" className="ml-2" title={`via ${h.bastion}`}>
                        bastion
                      </Badge>
                    )}
                  </TableCell>
                  <TableCell>{orDash(h.ssh_user)}</TableCell>
                  <TableCell>{h.environment ? <Badge tone={h.environment === "prod" || h.environment === "production" ? "warning" : "accent"}>{h.environment}</Badge> : "—"}</TableCell>
                  <TableCell>
                    <div className="flex max-w-64 flex-wrap gap-1">
                      {h.tags.map((t) => (
                        <Badge key={t} tone="mono">
                          {t}
                        </Badge>
                      ))}
                    </div>
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{h.artifact_count || "—"}</TableCell>
                  <TableCell className="py-1.5">
                    <div className="flex justify-end gap-1">
                      {canSsh && (
                        <Button variant="ghost" size="icon" aria-label={`Copy SSH command for ${h.hostname}`} title="Copy SSH command" onClick={() => copySsh.mutate(h.id)} data-testid="host-copy-ssh">
                          <Terminal />
                        </Button>
                      )}
                      {canManage && (
                        <>
                          <Button variant="ghost" size="icon" aria-label={`Edit ${h.hostname}`} onClick={() => openDialog(h)} data-testid="host-edit">
                            <Pencil />
                          </Button>
                          <Button variant="ghost" size="icon" aria-label={`Delete ${h.hostname}`} onClick={() => setDeleting(h)} data-testid="host-delete">
                            <Trash2 />
                          </Button>
                        </>
                      )}
                    </div>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Card>
        <div className="mt-3 flex items-center justify-between text-sm text-muted-foreground">
          <span data-testid="hosts-total">
            {total === 0 ? "No hosts" : `${offset + 1}–${Math.min(offset + PAGE_SIZE, total)} of ${total.toLocaleString("en-US")}`}
          </span>
          <div className="flex gap-1">
            <Button variant="outline" size="icon" aria-label="Previous page" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
              <ChevronLeft />
            </Button>
            <Button variant="outline" size="icon" aria-label="Next page" disabled={offset + PAGE_SIZE >= total} onClick={() => setOffset(offset + PAGE_SIZE)}>
              <ChevronRight />
            </Button>
          </div>
        </div>
      </>
    );
  }

  const showToolbar = filtered || (hosts.data?.total ?? 0) > 0;
  return (
    <div>
      <PageHeader description="The machines you run: how to reach them, where they belong, and the files that go with them." actions={showToolbar ? actions : undefined} />
      {showToolbar && (
        <div className="mb-3 flex flex-wrap items-center gap-2">
          <Input value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Search hostname, address or notes" className="h-9 w-72" data-testid="hosts-search" />
          <NativeSelect value={environment} onChange={(e) => setEnvironment(e.target.value)} className="h-9 w-44" aria-label="Environment" data-testid="hosts-environment">
            <option value="">All environments</option>
            {facets.data?.environments.map((env) => (
              <option key={env} value={env}>
                {env}
              </option>
            ))}
          </NativeSelect>
          <NativeSelect value={tag} onChange={(e) => setTag(e.target.value)} className="h-9 w-40" aria-label="Tag" data-testid="hosts-tag">
            <option value="">All tags</option>
            {facets.data?.tags.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </NativeSelect>
          {filtered && (
            <Button
              variant="ghost"
              size="sm"
              onClick={() => {
                setSearch("");
                setEnvironment("");
                setTag("");
              }}
            >
              <FilterX /> Clear
            </Button>
          )}
        </div>
      )}
      {body}
      <HostDialog open={dialogOpen} onOpenChange={setDialogOpen} host={editing} />
      <ImportDialog open={importOpen} onOpenChange={setImportOpen} />
      <SshTemplateDialog open={templateOpen} onOpenChange={setTemplateOpen} />
      <HostDrawer host={openHost} onOpenChange={(o) => !o && setOpenId(null)} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.hostname ?? ""}?`}
        description={deleting?.artifact_count ? `Its ${deleting.artifact_count} artifact file(s) are deleted too.` : "It is removed from the inventory."}
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
