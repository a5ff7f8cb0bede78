import { useMutation, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, Check, ChevronDown, Copy, FileCode2, ListChecks, Loader2, RotateCcw, Rocket, Save } from "lucide-react";
import { useEffect, useMemo, useRef, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { serviceKeys, useCompose } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { DefinitionIssue, ServiceDetail } from "@/api/types";
import { CodeEditor, type CodeEditorHandle } from "@/components/services/CodeEditor";
import { ContainerFields } from "@/components/services/ContainerFields";
import { IssueList, ValidationStatus, type LocatedIssue } from "@/components/services/IssueList";
import { useServiceActions } from "@/components/services/useServiceActions";
import { issuesFromError, useValidation } from "@/components/services/useValidation";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Skeleton } from "@/components/ui/skeleton";
import { SegmentedList, SegmentedTrigger, Tabs } from "@/components/ui/tabs";
import { Textarea } from "@/components/ui/textarea";
import { containerFromForm, fieldForIssuePath, fieldKeyId, formFromContainer, type ContainerForm } from "@/lib/definitionForm";
import { applyServiceEdit, definitionToYaml, lineForPath, parseYaml, serviceKeys as composeServiceKeys, serviceSpec } from "@/lib/yamlDoc";

/** The editor's state, kept by the service page so switching tabs loses nothing. */
export interface DefinitionDraft {
  /** The YAML being edited: the source of truth for both views. */
  text: string;
  /** What was loaded (to tell whether there are unsaved changes). */
  original: string;
  /** The revision the edit is based on (sent as If-Match). */
  base: number;
  env: string;
  view: "yaml" | "form";
}

export function isDirty(d: DefinitionDraft | null): boolean {
  return !!d && (d.text !== d.original || d.env.trim() !== "");
}

/** One compose service in the form view. Keeps rows the YAML can't hold yet (blank ones). */
function ContainerSection({
  serviceKey,
  spec,
  onSpec,
  issues,
  defaultOpen,
}: {
  serviceKey: string;
  spec: Record<string, unknown>;
  onSpec: (next: Record<string, unknown>) => void;
  issues: readonly DefinitionIssue[];
  defaultOpen: boolean;
}) {
  const [open, setOpen] = useState(defaultOpen);
  const [form, setForm] = useState<ContainerForm>(() => formFromContainer(spec));
  const written = useRef(JSON.stringify(spec));
  const [rows, setRows] = useState<{ portRows: number[]; volumeRows: number[] }>({ portRows: [], volumeRows: [] });
  const specJson = JSON.stringify(spec);

  // The YAML changed elsewhere (typed in the editor, a reload): show that instead.
  useEffect(() => {
    if (specJson !== written.current) {
      written.current = specJson;
      setForm(formFromContainer(JSON.parse(specJson)));
      setRows({ portRows: [], volumeRows: [] });
    }
  }, [specJson]);

  const errors = useMemo(() => {
    const m = new Map<string, string[]>();
    const portRows = rows.portRows.length ? rows.portRows : form.ports.map((_, i) => i);
    for (const issue of issues) {
      const key = fieldForIssuePath(issue.path, { serviceKey, portRows, volumeRows: rows.volumeRows });
      if (key.field === "other") continue;
      const id = fieldKeyId(key);
      m.set(id, [...(m.get(id) ?? []), issue.message]);
    }
    return m;
  }, [issues, serviceKey, rows, form.ports]);
  const otherIssues = issues.filter((i) => fieldForIssuePath(i.path, { serviceKey, portRows: [], volumeRows: [] }).field === "other");

  return (
    <Card data-testid="definition-container" data-service={serviceKey}>
      <button
        type="button"
        className="flex w-full cursor-pointer items-center justify-between gap-3 px-5 py-3.5 text-left outline-none focus-visible:ring-2 focus-visible:ring-ring focus-visible:ring-inset"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
      >
        <span className="min-w-0">
          <span className="font-medium">{serviceKey}</span>
          <span className="ml-2 truncate font-mono text-xs text-muted-foreground">{form.image}</span>
        </span>
        <span className="flex items-center gap-2">
          {issues.length > 0 && <span className="text-xs text-red-600 dark:text-red-400">{issues.length} problem{issues.length === 1 ? "" : "s"}</span>}
          <ChevronDown className={open ? "size-4" : "size-4 -rotate-90"} />
        </span>
      </button>
      {open && (
        <CardContent className="space-y-4 border-t pt-4">
          <ContainerFields
            value={form}
            compose
            showVolumes={false}
            errors={errors}
            onChange={(next) => {
              setForm(next);
              const result = containerFromForm(next, spec, { volumes: false });
              setRows({ portRows: result.portRows, volumeRows: result.volumeRows });
              written.current = JSON.stringify(result.spec);
              onSpec(result.spec);
            }}
          />
          <IssueList issues={otherIssues} title={`Other problems in ${serviceKey}`} />
          <p className="text-xs text-muted-foreground">Volumes, networks, health checks and the rest are edited in the YAML view.</p>
        </CardContent>
      )}
    </Card>
  );
}

function ConflictDialog({
  open,
  onOpenChange,
  latest,
  onReload,
  text,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  latest: number | null;
  onReload: () => void;
  text: string;
}) {
  const [copied, setCopied] = useState(false);
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent data-testid="conflict-dialog">
        <DialogHeader>
          <DialogTitle className="flex items-center gap-2">
            <AlertTriangle className="size-5 text-amber-500" /> Someone saved in between
          </DialogTitle>
          <DialogDescription>
            This service changed after you started editing{latest ? ` (the latest is now revision ${latest})` : ""}. Your changes were not saved.
          </DialogDescription>
        </DialogHeader>
        <DialogBody className="space-y-2 text-sm">
          <p>To avoid overwriting their work: copy your YAML, reload the latest revision, then apply your change again.</p>
          <p className="text-muted-foreground">Your text stays in the editor until you reload.</p>
        </DialogBody>
        <DialogFooter>
          <Button variant="outline" onClick={() => onOpenChange(false)}>
            Keep editing
          </Button>
          <Button
            variant="outline"
            onClick={() => {
              void navigator.clipboard?.writeText(text).then(() => {
                setCopied(true);
                setTimeout(() => setCopied(false), 1500);
              });
            }}
          >
            {copied ? <Check /> : <Copy />} {copied ? "Copied" : "Copy my YAML"}
          </Button>
          <Button onClick={onReload} data-testid="conflict-reload">
            <RotateCcw /> Reload latest
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function DefinitionTab({
  service,
  draft,
  setDraft,
}: {
  service: ServiceDetail;
  draft: DefinitionDraft | null;
  setDraft: (d: DefinitionDraft | null) => void;
}) {
  const queryClient = useQueryClient();
  const compose = useCompose(service.id, service.revision);
  const editorRef = useRef<CodeEditorHandle>(null);
  const [comment, setComment] = useState("");
  const [saveIssues, setSaveIssues] = useState<DefinitionIssue[] | null>(null);
  const [conflict, setConflict] = useState<number | null>(null);
  const [savedRevision, setSavedRevision] = useState<number | null>(null);
  const [showEnv, setShowEnv] = useState(false);
  const actions = useServiceActions(service);

  // Load (or reload after a save elsewhere, when there is nothing unsaved).
  const loadedText = compose.data ?? (compose.isError ? definitionToYaml(service.definition) : null);
  useEffect(() => {
    if (loadedText === null) return;
    if (!draft || (!isDirty(draft) && draft.base !== service.revision)) {
      setDraft({ text: loadedText, original: loadedText, base: service.revision, env: "", view: draft?.view ?? "yaml" });
    }
  }, [loadedText, service.revision, draft === null]); // eslint-disable-line react-hooks/exhaustive-deps

  const text = draft?.text ?? "";
  const parsed = useMemo(() => parseYaml(text), [text]);
  const dirty = isDirty(draft);
  const stale = draft !== null && draft.base !== service.revision;

  const validation = useValidation(
    draft && dirty && parsed.errors.length === 0
      ? { compose: text, env: draft.env.trim() ? draft.env : null, node_id: service.node_id, service_id: service.id }
      : null,
  );
  const issues: DefinitionIssue[] = saveIssues ?? validation.issues;
  const located: LocatedIssue[] = useMemo(
    () =>
      parsed.errors.length
        ? parsed.errors.map((e) => ({ path: "", message: e.message, line: e.line }))
        : issues.map((i) => ({ ...i, line: lineForPath(parsed, i.path) })),
    [parsed, issues],
  );
  const lineIssues = useMemo(() => {
    const m = new Map<number, string[]>();
    for (const i of located) if (i.line != null) m.set(i.line, [...(m.get(i.line) ?? []), `${i.path ? `${i.path}: ` : ""}${i.message}`]);
    return m;
  }, [located]);

  const update = (patch: Partial<DefinitionDraft>) => {
    if (!draft) return;
    setSaveIssues(null);
    setSavedRevision(null);
    setDraft({ ...draft, ...patch });
  };

  const save = useMutation({
    mutationFn: () =>
      servicesApi.update(
        service.id,
        { compose: draft!.text, env: draft!.env.trim() ? draft!.env : null, comment: comment.trim(), source: "ui" },
        draft!.base,
      ),
    meta: { toast: (err: unknown) => !(isApiError(err) && err.code === "revision_conflict") && !issuesFromError(err) },
    onMutate: () => setSaveIssues(null),
    onError: (err) => {
      if (isApiError(err) && err.code === "revision_conflict") {
        const latest = err.details?.["latest"];
        setConflict(typeof latest === "number" ? latest : 0);
        void queryClient.invalidateQueries({ queryKey: serviceKeys.detail(service.id) });
        return;
      }
      const list = issuesFromError(err);
      if (list) setSaveIssues(list);
    },
    onSuccess: (saved) => {
      const changed = saved.revision !== draft!.base;
      setDraft({ ...draft!, original: draft!.text, base: saved.revision, env: "" });
      setComment("");
      queryClient.setQueryData(serviceKeys.detail(service.id), (old: (ServiceDetail & { etag: string | null }) | undefined) =>
        old ? { ...old, ...saved } : old,
      );
      void queryClient.invalidateQueries({ queryKey: serviceKeys.item(service.id) });
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      if (changed) {
        setSavedRevision(saved.revision);
        toast.success(`Saved revision ${saved.revision}`, {
          description: "It runs once you deploy it.",
          action: { label: "Deploy now", onClick: () => actions.request("deploy") },
        });
      } else {
        toast.info("No changes to the definition", { description: "Formatting and comments are not stored; the definition is the same." });
      }
    },
  });

  if (!draft) {
    return (
      <Card className="space-y-2 p-5">
        {Array.from({ length: 10 }, (_, i) => (
          <Skeleton key={i} className="h-5" style={{ width: `${40 + ((i * 37) % 55)}%` }} />
        ))}
      </Card>
    );
  }

  const keys = parsed.errors.length ? [] : composeServiceKeys(parsed.value);
  const canSave = dirty && parsed.errors.length === 0 && !save.isPending;

  return (
    <div className="space-y-4">
      {stale && (
        <div role="alert" className="flex flex-wrap items-center gap-3 rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950 dark:border-amber-800/70 dark:bg-amber-950/40 dark:text-amber-100">
          <AlertTriangle className="size-4 shrink-0 text-amber-600" />
          <p className="min-w-0 flex-1">
            Revision {service.revision} was saved while you were editing revision {draft.base}. Saving now would be refused.
          </p>
          <Button
            size="sm"
            variant="outline"
            onClick={() => setDraft(null)}
          >
            <RotateCcw /> Discard mine and load r{service.revision}
          </Button>
        </div>
      )}
      {savedRevision !== null && !dirty && (
        <div role="status" className="flex flex-wrap items-center gap-3 rounded-lg border border-emerald-300 bg-emerald-50 px-4 py-3 text-sm text-emerald-950 dark:border-emerald-800/70 dark:bg-emerald-950/40 dark:text-emerald-100" data-testid="definition-saved">
          <Check className="size-4 shrink-0 text-emerald-600" />
          <p className="min-w-0 flex-1">Saved as revision {savedRevision}. It runs once you deploy it.</p>
          <Button size="sm" onClick={() => actions.request("deploy")} disabled={actions.pending !== null} data-testid="definition-deploy">
            {actions.pending === "deploy" ? <Loader2 className="animate-spin" /> : <Rocket />} Deploy now
          </Button>
        </div>
      )}

      <Tabs value={draft.view} onValueChange={(v) => update({ view: v as DefinitionDraft["view"] })}>
        <div className="flex flex-wrap items-center justify-between gap-3">
          <SegmentedList aria-label="Editor">
            <SegmentedTrigger value="yaml" data-testid="definition-view-yaml">
              <FileCode2 /> YAML
            </SegmentedTrigger>
            <SegmentedTrigger value="form" data-testid="definition-view-form">
              <ListChecks /> Form
            </SegmentedTrigger>
          </SegmentedList>
          <div className="flex items-center gap-3">
            <ValidationStatus state={parsed.errors.length ? { status: "invalid", issues: located, definition: null } : validation} />
            <span className="text-xs text-muted-foreground">
              Editing r{draft.base}
              {dirty && <span className="ml-1 font-medium text-amber-700 dark:text-amber-400">· unsaved</span>}
            </span>
          </div>
        </div>
      </Tabs>

      {draft.view === "yaml" ? (
        <div className="space-y-2">
          <CodeEditor
            ref={editorRef}
            label="Compose YAML"
            value={draft.text}
            onChange={(v) => update({ text: v })}
            lineIssues={lineIssues}
            className="h-[calc(100svh-26rem)] min-h-96"
            testId="compose-editor"
          />
          <p className="text-[11px] text-muted-foreground">Tab indents · Shift+Tab outdents · Esc then Tab moves on</p>
          <IssueList issues={located} onSelect={(i) => i.line != null && editorRef.current?.jumpTo(i.line)} />
        </div>
      ) : parsed.errors.length ? (
        <div className="space-y-3">
          <p className="text-sm text-muted-foreground">The YAML has syntax errors: fix them in the YAML view to use the form.</p>
          <IssueList issues={located} />
        </div>
      ) : (
        <div className="space-y-3">
          {keys.map((key, i) => (
            <ContainerSection
              key={key}
              serviceKey={key}
              spec={serviceSpec(parsed.value, key)}
              defaultOpen={i === 0 || keys.length <= 2}
              issues={issues.filter((iss) => iss.path === `services.${key}` || iss.path.startsWith(`services.${key}.`))}
              onSpec={(next) => {
                try {
                  update({ text: applyServiceEdit(draft.text, key, next, serviceSpec(parsed.value, key)) });
                } catch (err) {
                  toast.error(err instanceof Error ? err.message : "Couldn't apply the change");
                }
              }}
            />
          ))}
          <IssueList issues={issues.filter((iss) => !keys.some((k) => iss.path === `services.${k}` || iss.path.startsWith(`services.${k}.`)))} title="Other problems" />
        </div>
      )}

      <div>
        <button
          type="button"
          className="inline-flex cursor-pointer items-center gap-1 text-sm font-medium text-foreground/90 hover:text-foreground"
          aria-expanded={showEnv}
          onClick={() => setShowEnv((v) => !v)}
        >
          <ChevronDown className={showEnv ? "size-4" : "size-4 -rotate-90"} /> .env variables <span className="font-normal text-muted-foreground">(optional, substituted into ${"{VAR}"} when saving)</span>
        </button>
        {showEnv && (
          <Textarea
            aria-label=".env variables"
            value={draft.env}
            onChange={(e) => update({ env: e.target.value })}
            placeholder={"TAG=1.27"}
            spellCheck={false}
            className="mt-2 h-24 font-mono text-[13px]"
            data-testid="env-editor"
          />
        )}
      </div>

      <Card className="sticky bottom-3 z-10 shadow-md">
        <CardHeader className="sr-only">
          <CardTitle>Save</CardTitle>
          <CardDescription>Save the definition as a new revision</CardDescription>
        </CardHeader>
        <form
          className="flex flex-col gap-2 p-3 sm:flex-row sm:items-center"
          onSubmit={(e) => {
            e.preventDefault();
            if (canSave) save.mutate();
          }}
        >
          <Input
            aria-label="Comment for this revision"
            placeholder="What changed? (optional)"
            value={comment}
            onChange={(e) => setComment(e.target.value)}
            maxLength={500}
            className="sm:flex-1"
            data-testid="definition-comment"
          />
          <div className="flex gap-2">
            <Button
              type="button"
              variant="ghost"
              disabled={!dirty || save.isPending}
              onClick={() => {
                update({ text: draft.original, env: "" });
                setSaveIssues(null);
              }}
            >
              <RotateCcw /> Discard
            </Button>
            <Button type="submit" disabled={!canSave} data-testid="definition-save" className="flex-1 sm:flex-none">
              {save.isPending ? <Loader2 className="animate-spin" /> : <Save />} Save revision
            </Button>
          </div>
        </form>
      </Card>

      <ConflictDialog
        open={conflict !== null}
        onOpenChange={(o) => !o && setConflict(null)}
        latest={conflict || null}
        text={draft.text}
        onReload={() => {
          setConflict(null);
          setDraft(null);
          void queryClient.invalidateQueries({ queryKey: serviceKeys.item(service.id) });
        }}
      />
      {actions.dialogs}
    </div>
  );
}
