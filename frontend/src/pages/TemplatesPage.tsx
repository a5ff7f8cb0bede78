import { useMutation, useQueryClient } from "@tanstack/react-query";
import {
  Activity,
  Database,
  FileUp,
  Gamepad2,
  Globe,
  Layers,
  LayoutTemplate,
  Loader2,
  Rocket,
  Search,
  Server,
  Trash2,
  UserRoundSearch,
  type LucideIcon,
} from "lucide-react";
import { useEffect, useId, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useNodes } from "@/api/queries";
import { templateKeys, templatesApi, useTemplateCategories, useTemplates, type ImportFormat, type TemplateImportResult, type TemplateOut, type TemplateVariable } from "@/api/templates";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Sheet, SheetContent, SheetDescription, SheetHeader, SheetTitle } from "@/components/ui/sheet";
import { Skeleton } from "@/components/ui/skeleton";
import { Textarea } from "@/components/ui/textarea";
import { markdownBlocks } from "@/lib/markdownBlocks";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { serviceNameProblem } from "@/lib/serviceName";
import { initialValues, serverFieldErrors, suggestName, toRequest, validateForm, type FormValues } from "@/lib/templateForm";
import { cn } from "@/lib/utils";

const SEARCH_DEBOUNCE_MS = 250;

// The lucide names the catalog and importers use; anything else gets the generic icon.
const ICONS: Record<string, LucideIcon> = {
  activity: Activity,
  database: Database,
  "gamepad-2": Gamepad2,
  globe: Globe,
  layers: Layers,
  server: Server,
  "user-round-search": UserRoundSearch,
};

function TemplateIcon({ icon, className }: { icon: string | null | undefined; className?: string }) {
  const [broken, setBroken] = useState(false);
  if (icon && /^https?:\/\//.test(icon) && !broken) {
    return <img src={icon} alt="" className={cn("size-9 rounded object-contain", className)} onError={() => setBroken(true)} referrerPolicy="no-referrer" />;
  }
  const Icon = (icon && ICONS[icon]) || LayoutTemplate;
  return (
    <span className={cn("flex size-9 shrink-0 items-center justify-center rounded-md bg-primary/10 text-primary", className)}>
      <Icon className="size-5" aria-hidden />
    </span>
  );
}

function errorMessage(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

// ---------------------------------------------------------------- deploy

function VariableField({ variable, value, error, onChange, id }: { variable: TemplateVariable; value: string; error?: string; onChange: (v: string) => void; id: string }) {
  const label = variable.label || variable.name;
  const type = variable.type ?? "string";
  const describedBy = `${id}-help`;
  let control;
  if (type === "bool") {
    control = (
      <label className="flex items-center gap-2 text-sm">
        <input id={id} type="checkbox" className="size-4 accent-primary" checked={value === "true"} onChange={(e) => onChange(e.target.checked ? "true" : "false")} data-testid={`var-${variable.name}`} />
        {variable.description || "Enabled"}
      </label>
    );
  } else if (type === "select") {
    control = (
      <NativeSelect id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={!!error} aria-describedby={describedBy} data-testid={`var-${variable.name}`}>
        {!variable.required && <option value="">—</option>}
        {(variable.options ?? []).map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </NativeSelect>
    );
  } else {
    control = (
      <Input
        id={id}
        type={type === "secret" ? "password" : type === "number" ? "number" : "text"}
        autoComplete={type === "secret" ? "new-password" : "off"}
        spellCheck={false}
        value={value}
        placeholder={variable.default ?? ""}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={!!error}
        aria-describedby={describedBy}
        data-testid={`var-${variable.name}`}
      />
    );
  }
  return (
    <div className="space-y-1.5">
      <Label htmlFor={id}>
        {label}
        {variable.required && <span className="text-destructive"> *</span>}
        <span className="ml-2 font-mono text-[11px] font-normal text-muted-foreground">{variable.name}</span>
      </Label>
      {control}
      <p id={describedBy} className={cn("text-xs", error ? "text-destructive" : "text-muted-foreground")}>
        {error ?? (type !== "bool" ? variable.description : "")}
        {!error && type === "secret" && " Stored with the service only; never shown again."}
      </p>
    </div>
  );
}

function DeployDialog({ template, onOpenChange }: { template: TemplateOut | null; onOpenChange: (open: boolean) => void }) {
  const ids = useId();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const nodes = useNodes();
  const variables = useMemo(() => template?.variables ?? [], [template]);
  const [name, setName] = useState("");
  const [nodeId, setNodeId] = useState("");
  const [values, setValues] = useState<FormValues>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [nameError, setNameError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (template) {
      setName(suggestName(template.slug));
      setNodeId("");
      setValues(initialValues(template.variables));
      setErrors({});
      setNameError(null);
      setFormError(null);
      setTouched(false);
    }
  }, [template]);

  const deploy = useMutation({
    mutationFn: () => templatesApi.deploy(template!.id, name, nodeId ? Number(nodeId) : null, toRequest(variables, values)),
    meta: { toast: (err: unknown) => !(isApiError(err) && [403, 409, 422].includes(err.status)) },
    onMutate: () => setFormError(null),
    onError: (err) => {
      if (isApiError(err)) {
        const fields = serverFieldErrors(err.details);
        setErrors(fields);
        const nameProblem = ((err.details?.errors as { path?: string; message?: string }[] | undefined) ?? []).find((e) => e.path === "name");
        setNameError(nameProblem?.message ?? null);
        if (Object.keys(fields).length === 0 && !nameProblem) setFormError(err.message);
      } else setFormError("Deploying failed.");
    },
    onSuccess: (service) => {
      void queryClient.invalidateQueries({ queryKey: ["services"] });
      toast(`Created ${service.name} from ${template!.name}`, { description: "Deploy it from the service page." });
      onOpenChange(false);
      void navigate(`/services/${service.id}`);
    },
  });

  const submit = () => {
    setTouched(true);
    const problems = validateForm(variables, values);
    setErrors(problems);
    const badName = name ? serviceNameProblem(name) : "Required";
    setNameError(badName);
    if (Object.keys(problems).length === 0 && !badName) deploy.mutate();
  };

  const setValue = (key: string, value: string) => {
    const next = { ...values, [key]: value };
    setValues(next);
    if (touched) setErrors(validateForm(variables, next));
  };

  return (
    <Dialog open={template !== null} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-lg" data-testid="deploy-dialog">
        <DialogHeader>
          <DialogTitle>Deploy {template?.name}</DialogTitle>
          <DialogDescription>Creates a service from version {template?.version} of this template. Deploy it afterwards from its page.</DialogDescription>
        </DialogHeader>
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <DialogBody className="max-h-[60vh] space-y-4 overflow-y-auto">
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-name`}>Service name</Label>
                <Input id={`${ids}-name`} value={name} onChange={(e) => setName(e.target.value)} spellCheck={false} autoCapitalize="off" aria-invalid={!!nameError} data-testid="deploy-name" />
                {nameError && <p className="text-xs text-destructive">{nameError}</p>}
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-node`}>Node</Label>
                <NativeSelect id={`${ids}-node`} value={nodeId} onChange={(e) => setNodeId(e.target.value)} data-testid="deploy-node">
                  <option value="">Local node</option>
                  {(nodes.data?.items ?? []).map((n) => (
                    <option key={n.id} value={n.id}>
                      {n.name}
                    </option>
                  ))}
                </NativeSelect>
              </div>
            </div>
            {variables.length > 0 && <div className="border-t" />}
            {variables.map((v) => (
              <VariableField key={v.name} id={`${ids}-${v.name}`} variable={v} value={values[v.name] ?? ""} error={errors[v.name]} onChange={(value) => setValue(v.name, value)} />
            ))}
            {formError && (
              <p role="alert" className="rounded-md border border-destructive/40 bg-destructive/5 px-3 py-2 text-sm text-destructive" data-testid="deploy-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={deploy.isPending} data-testid="deploy-submit">
              {deploy.isPending ? <Loader2 className="animate-spin" /> : <Rocket />}
              Create service
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

// ---------------------------------------------------------------- import

const FORMATS: { value: ImportFormat; label: string; hint: string }[] = [
  { value: "portainer", label: "Portainer app templates (v2/v3 JSON)", hint: '{"version": "2", "templates": [...]}' },
  { value: "pterodactyl", label: "Pterodactyl / Pelican egg (PTDL_v2 JSON)", hint: '{"meta": {"version": "PTDL_v2"}, ...}' },
  { value: "compose", label: "Compose file (${VAR}s become variables)", hint: "services:\n  web:\n    image: nginx:${TAG:-latest}" },
  { value: "dockyard", label: "Dockyard template (YAML or JSON)", hint: "kind: dockyard/template@1\nname: ..." },
];

function ImportDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (open: boolean) => void }) {
  const ids = useId();
  const queryClient = useQueryClient();
  const fileRef = useRef<HTMLInputElement>(null);
  const [format, setFormat] = useState<ImportFormat>("portainer");
  const [content, setContent] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<TemplateImportResult | null>(null);

  useEffect(() => {
    if (open) {
      setContent("");
      setError(null);
      setResult(null);
    }
  }, [open]);

  const run = useMutation({
    mutationFn: () => templatesApi.importTemplates(format, content),
    meta: { toast: (err: unknown) => !(isApiError(err) && [409, 422].includes(err.status)) },
    onMutate: () => setError(null),
    onError: (err) => {
      const first = isApiError(err) ? ((err.details?.errors as { path?: string; message?: string }[] | undefined) ?? [])[0] : undefined;
      setError(first?.path ? `${first.path}: ${first.message}` : errorMessage(err, "Import failed."));
    },
    onSuccess: (res) => {
      void queryClient.invalidateQueries({ queryKey: templateKeys.all });
      setResult(res);
      toast(`Imported ${res.items.length} template${res.items.length === 1 ? "" : "s"}`);
    },
  });

  const hint = FORMATS.find((f) => f.value === format)?.hint ?? "";
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-2xl" data-testid="template-import-dialog">
        <DialogHeader>
          <DialogTitle>Import templates</DialogTitle>
          <DialogDescription>Paste or upload a template file. Everything in it is imported, or nothing if any entry is invalid.</DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-4">
          <div className="flex flex-wrap items-end gap-3">
            <div className="min-w-64 flex-1 space-y-1.5">
              <Label htmlFor={`${ids}-format`}>Format</Label>
              <NativeSelect id={`${ids}-format`} value={format} onChange={(e) => setFormat(e.target.value as ImportFormat)} data-testid="template-import-format">
                {FORMATS.map((f) => (
                  <option key={f.value} value={f.value}>
                    {f.label}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <input
              ref={fileRef}
              type="file"
              accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml"
              className="hidden"
              onChange={async (e) => {
                const file = e.target.files?.[0];
                if (file) setContent(await file.text());
                e.target.value = "";
              }}
            />
            <Button variant="outline" onClick={() => fileRef.current?.click()}>
              <FileUp /> Upload file
            </Button>
          </div>
          <Textarea value={content} onChange={(e) => setContent(e.target.value)} placeholder={hint} rows={12} className="font-mono text-xs" spellCheck={false} aria-label="Template content" data-testid="template-import-content" />
          {error && (
            <p role="alert" className="rounded-md border border-destructive/40 bg-destructive/5 px-3 py-2 text-sm text-destructive" data-testid="template-import-error">
              {error}
            </p>
          )}
          {result && (
            <div className="space-y-1 rounded-md border bg-muted/40 px-3 py-2 text-sm" data-testid="template-import-result">
              <p>Imported: {result.items.map((t) => t.name).join(", ") || "nothing"}</p>
              {(result.skipped ?? []).map((s) => (
                <p key={s.path} className="text-xs text-muted-foreground">
                  Skipped {s.title} ({s.path}): {s.reason}
                </p>
              ))}
            </div>
          )}
        </DialogBody>
        <DialogFooter>
          <Button variant="ghost" onClick={() => onOpenChange(false)}>
            Close
          </Button>
          <Button onClick={() => run.mutate()} disabled={!content.trim() || run.isPending} data-testid="template-import-submit">
            {run.isPending && <Loader2 className="animate-spin" />}
            Import
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

// ---------------------------------------------------------------- detail

/** The documentation's Markdown as escaped text blocks (inline marks shown as typed). */
function Documentation({ source }: { source: string }) {
  return (
    <>
      {markdownBlocks(source).map((block, i) => {
        if (block.kind === "heading") return <p key={i} className={cn("font-semibold", block.level === 1 && "text-base")}>{block.text}</p>;
        if (block.kind === "list")
          return (
            <ul key={i} className="list-disc space-y-0.5 pl-5">
              {block.items.map((item, j) => (
                <li key={j}>{item}</li>
              ))}
            </ul>
          );
        if (block.kind === "code") return <pre key={i} className="overflow-x-auto rounded bg-muted p-2 font-mono text-xs">{block.text}</pre>;
        return <p key={i}>{block.text}</p>;
      })}
    </>
  );
}

function TemplateDrawer({ template, onOpenChange, onDeploy, canDeploy, canManage }: { template: TemplateOut | null; onOpenChange: (open: boolean) => void; onDeploy: (t: TemplateOut) => void; canDeploy: boolean; canManage: boolean }) {
  const queryClient = useQueryClient();
  const [confirm, setConfirm] = useState(false);
  const remove = useMutation({
    mutationFn: (id: number) => templatesApi.remove(id),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: templateKeys.all });
      toast(`Deleted ${template?.name}`);
      setConfirm(false);
      onOpenChange(false);
    },
  });
  return (
    <Sheet open={template !== null} onOpenChange={onOpenChange}>
      <SheetContent data-testid="template-drawer">
        {template && (
          <>
            <SheetHeader>
              <div className="flex items-center gap-3">
                <TemplateIcon icon={template.icon} />
                <div className="min-w-0">
                  <SheetTitle>{template.name}</SheetTitle>
                  <SheetDescription>
                    {template.category} · version {template.version} · {template.source_format}
                  </SheetDescription>
                </div>
              </div>
            </SheetHeader>
            <div className="flex-1 space-y-5 overflow-y-auto px-5 py-4 text-sm">
              {template.description && <p>{template.description}</p>}
              {template.documentation && (
                <section>
                  <h3 className="mb-1.5 text-xs font-semibold tracking-wide text-muted-foreground uppercase">Documentation</h3>
                  <div className="space-y-2 rounded-md border bg-muted/30 px-3 py-2 text-sm" data-testid="template-docs">
                    <Documentation source={template.documentation} />
                  </div>
                </section>
              )}
              {template.variables.length > 0 && (
                <section>
                  <h3 className="mb-1.5 text-xs font-semibold tracking-wide text-muted-foreground uppercase">Variables</h3>
                  <ul className="space-y-1">
                    {template.variables.map((v) => (
                      <li key={v.name} className="flex flex-wrap items-baseline gap-2">
                        <code className="font-mono text-xs">{v.name}</code>
                        <Badge tone="neutral">{v.type}</Badge>
                        {v.required && <Badge tone="warning">required</Badge>}
                        <span className="text-xs text-muted-foreground">{v.label !== v.name ? v.label : ""}</span>
                      </li>
                    ))}
                  </ul>
                </section>
              )}
              <section>
                <h3 className="mb-1.5 text-xs font-semibold tracking-wide text-muted-foreground uppercase">Definition</h3>
                <pre className="overflow-x-auto rounded-md border bg-muted/30 p-3 font-mono text-xs">{template.compose}</pre>
              </section>
            </div>
            <div className="flex justify-between gap-2 border-t px-5 py-3">
              {canManage ? (
                <Button variant="ghost" className="text-destructive" onClick={() => setConfirm(true)}>
                  <Trash2 /> Delete
                </Button>
              ) : (
                <span />
              )}
              {canDeploy && (
                <Button onClick={() => onDeploy(template)} data-testid="drawer-deploy">
                  <Rocket /> Deploy
                </Button>
              )}
            </div>
            <ConfirmDialog
              open={confirm}
              onOpenChange={setConfirm}
              title={`Delete ${template.name}?`}
              description="Services already created from it are kept."
              confirmLabel="Delete"
              destructive
              pending={remove.isPending}
              onConfirm={() => remove.mutate(template.id)}
            />
          </>
        )}
      </SheetContent>
    </Sheet>
  );
}

// ---------------------------------------------------------------- gallery

export function TemplatesPage() {
  usePageTitle("Templates");
  const canDeploy = useCan("templates:deploy");
  const canCreate = useCan("services:create");
  const canManage = useCan("templates:manage");
  const [searchText, setSearchText] = useState("");
  const [search, setSearch] = useState("");
  const [category, setCategory] = useState("");
  const [selected, setSelected] = useState<TemplateOut | null>(null);
  const [deploying, setDeploying] = useState<TemplateOut | null>(null);
  const [importing, setImporting] = useState(false);

  useEffect(() => {
    const timer = setTimeout(() => setSearch(searchText.trim()), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [searchText]);

  const templates = useTemplates({ search, category });
  const categories = useTemplateCategories();
  const mayDeploy = canDeploy && canCreate;

  return (
    <div>
      <PageHeader
        description="Parameterised service definitions: pick one, fill in its variables, get a service."
        actions={
          canManage && (
            <Button variant="outline" onClick={() => setImporting(true)} data-testid="template-import-open">
              <FileUp /> Import
            </Button>
          )
        }
      />
      <div className="mb-4 flex flex-wrap items-center gap-3">
        <div className="relative w-full max-w-xs">
          <Search className="pointer-events-none absolute top-1/2 left-2.5 size-4 -translate-y-1/2 text-muted-foreground" aria-hidden />
          <Input value={searchText} onChange={(e) => setSearchText(e.target.value)} placeholder="Search templates" aria-label="Search templates" className="pl-8" data-testid="template-search" />
        </div>
        <div className="flex flex-wrap gap-1.5" role="group" aria-label="Categories">
          <CategoryChip active={category === ""} onClick={() => setCategory("")} label="All" />
          {(categories.data?.items ?? []).map((c) => (
            <CategoryChip key={c.name} active={category === c.name} onClick={() => setCategory(category === c.name ? "" : c.name)} label={c.name} count={c.count} />
          ))}
        </div>
      </div>
      {templates.isError ? (
        <ErrorState error={templates.error} onRetry={() => void templates.refetch()} />
      ) : templates.isPending ? (
        <div className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3">
          {Array.from({ length: 6 }, (_, i) => (
            <Skeleton key={i} className="h-32" />
          ))}
        </div>
      ) : templates.data.items.length === 0 ? (
        <EmptyState icon={LayoutTemplate} title="No templates found" description={search || category ? "Nothing matches this search." : "Import Portainer templates, Pterodactyl eggs or a compose file."} />
      ) : (
        <div className="grid gap-3 sm:grid-cols-2 xl:grid-cols-3" data-testid="template-grid">
          {templates.data.items.map((t) => (
            <Card key={t.id} className="flex flex-col gap-3 p-4" data-testid={`template-card-${t.slug}`}>
              <button type="button" className="flex items-start gap-3 text-left outline-none focus-visible:ring-2 focus-visible:ring-ring rounded-md" onClick={() => setSelected(t)}>
                <TemplateIcon icon={t.icon} />
                <div className="min-w-0 flex-1">
                  <div className="flex items-center gap-2">
                    <span className="truncate font-medium">{t.name}</span>
                    <span className="text-xs text-muted-foreground">v{t.version}</span>
                  </div>
                  <p className="line-clamp-2 text-sm text-muted-foreground">{t.description || "No description."}</p>
                </div>
              </button>
              <div className="mt-auto flex items-center justify-between gap-2">
                <Badge tone="neutral">{t.category}</Badge>
                <div className="flex gap-1.5">
                  <Button size="sm" variant="ghost" onClick={() => setSelected(t)}>
                    Details
                  </Button>
                  {mayDeploy && (
                    <Button size="sm" onClick={() => setDeploying(t)} data-testid={`deploy-${t.slug}`}>
                      <Rocket /> Deploy
                    </Button>
                  )}
                </div>
              </div>
            </Card>
          ))}
        </div>
      )}
      <TemplateDrawer
        template={selected}
        onOpenChange={(open) => !open && setSelected(null)}
        canDeploy={mayDeploy}
        canManage={canManage}
        onDeploy={(t) => {
          setSelected(null);
          setDeploying(t);
        }}
      />
      <DeployDialog template={deploying} onOpenChange={(open) => !open && setDeploying(null)} />
      <ImportDialog open={importing} onOpenChange={setImporting} />
    </div>
  );
}

function CategoryChip({ active, onClick, label, count }: { active: boolean; onClick: () => void; label: string; count?: number }) {
  return (
    <button
      type="button"
      onClick={onClick}
      aria-pressed={active}
      className={cn(
        "rounded-full border px-3 py-1 text-xs font-medium transition-colors outline-none focus-visible:ring-2 focus-visible:ring-ring",
        active ? "border-primary bg-primary text-primary-foreground" : "bg-background text-muted-foreground hover:bg-accent hover:text-foreground",
      )}
      data-testid={`category-${label}`}
    >
      {label}
      {count !== undefined && <span className="ml-1 opacity-70">{count}</span>}
    </button>
  );
}
