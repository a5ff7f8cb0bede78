import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ArrowLeft, ChevronDown, FileCode2, FileUp, ListChecks, Loader2, Rocket } from "lucide-react";
import { useMemo, useRef, useState, type DragEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useNodes } from "@/api/queries";
import { serviceKeys } from "@/api/serviceQueries";
import { servicesApi } from "@/api/services";
import type { DefinitionIssue, ServiceCreate, ValidateRequest } from "@/api/types";
import { CodeEditor, type CodeEditorHandle } from "@/components/services/CodeEditor";
import { ContainerFields, FieldError } from "@/components/services/ContainerFields";
import { IssueList, ValidationStatus, type LocatedIssue } from "@/components/services/IssueList";
import { announceJob } from "@/components/services/useServiceActions";
import { issuesFromError, useValidation, type ValidationState } from "@/components/services/useValidation";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { SegmentedList, SegmentedTrigger, Tabs, TabsContent } from "@/components/ui/tabs";
import { Textarea } from "@/components/ui/textarea";
import { definitionFromForm, emptyContainerForm, fieldForIssuePath, fieldKeyId, type ContainerForm } from "@/lib/definitionForm";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";
import { useClusters } from "@/pages/placement/placementApi";
import { targetFields, targetFromValue } from "@/pages/placement/placementFormat";
import { serviceNameProblem } from "@/lib/serviceName";
import { lineForPath, parseYaml } from "@/lib/yamlDoc";

type Mode = "form" | "compose";

/** Why `name` is not a valid service name (the server's rule), or null. */
export function nameProblem(name: string): string | null {
  return serviceNameProblem(name);
}

const COMPOSE_PLACEHOLDER = `services:
  web:
    image: nginx:1.27
    ports:
      - "8080:80"
    restart: unless-stopped
`;

/** Groups issues by form field; those that fit no field are returned as `rest`. */
function splitIssues(issues: readonly DefinitionIssue[], ctx: Parameters<typeof fieldForIssuePath>[1]) {
  const byField = new Map<string, string[]>();
  const rest: DefinitionIssue[] = [];
  for (const issue of issues) {
    const key = fieldForIssuePath(issue.path, ctx);
    if (key.field === "other") {
      rest.push(issue);
      continue;
    }
    const id = fieldKeyId(key);
    byField.set(id, [...(byField.get(id) ?? []), issue.message]);
  }
  return { byField, rest };
}

function composeNameHint(text: string): string | null {
  const m = /^name:\s*["']?([a-z0-9][a-z0-9_-]{0,62})["']?\s*$/m.exec(text);
  return m?.[1] ?? null;
}

export function ServiceCreatePage() {
  usePageTitle("Services", "New service · Services");
  const [params, setParams] = useSearchParams();
  const mode: Mode = params.get("mode") === "compose" ? "compose" : "form";
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const nodes = useNodes();

  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [nodeId, setNodeId] = useState<number | null>(null);
  // "auto" (the scheduler picks a node) or "cluster:<id>"; null: the node in `nodeId`.
  const [placementChoice, setPlacementChoice] = useState<string | null>(null);
  const clusterOptions = useClusters(useCan("nodes:read")).data?.items ?? [];
  const [form, setForm] = useState<ContainerForm>(emptyContainerForm);
  const [compose, setCompose] = useState("");
  const [envText, setEnvText] = useState("");
  const [showEnv, setShowEnv] = useState(false);
  const [submitIssues, setSubmitIssues] = useState<DefinitionIssue[] | null>(null);
  const editorRef = useRef<CodeEditorHandle>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  const nodeOptions = nodes.data?.items ?? [];
  const placed = placementChoice ? targetFromValue(placementChoice) : null;
  const effectiveNode = placed ? null : (nodeId ?? nodeOptions.find((n) => n.kind === "local")?.id ?? nodeOptions[0]?.id ?? null);

  // --- what is being created -------------------------------------------------
  const built = useMemo(() => definitionFromForm(name, form), [name, form]);
  const parsedCompose = useMemo(() => (mode === "compose" && compose.trim() ? parseYaml(compose) : null), [mode, compose]);

  const validateRequest: ValidateRequest | null = useMemo(() => {
    if (mode === "form") {
      if (!form.image.trim()) return null;
      return { definition: built.definition, node_id: effectiveNode };
    }
    if (!compose.trim() || (parsedCompose && parsedCompose.errors.length)) return null;
    return { compose, env: envText.trim() ? envText : null, node_id: effectiveNode };
  }, [mode, form.image, built.definition, compose, envText, parsedCompose, effectiveNode]);

  const validation = useValidation(validateRequest);
  const liveIssues = submitIssues ?? validation.issues;

  // --- issues by field / by line ---------------------------------------------
  const formIssues = useMemo(
    () => splitIssues(liveIssues, { serviceKey: built.serviceKey, portRows: built.portRows, volumeRows: built.volumeRows }),
    [liveIssues, built],
  );
  const localFormErrors = new Map(formIssues.byField);
  for (const e of built.errors) localFormErrors.set(e.field, [...(localFormErrors.get(e.field) ?? []), e.message]);

  const composeIssues: LocatedIssue[] = useMemo(() => {
    if (mode !== "compose") return [];
    if (parsedCompose?.errors.length) return parsedCompose.errors.map((e) => ({ path: "", message: e.message, line: e.line }));
    return liveIssues
      .filter((i) => i.path !== "name")
      .map((i) => ({ ...i, line: parsedCompose ? lineForPath(parsedCompose, i.path) : null }));
  }, [mode, parsedCompose, liveIssues]);
  const lineIssues = useMemo(() => {
    const m = new Map<number, string[]>();
    for (const i of composeIssues) if (i.line != null) m.set(i.line, [...(m.get(i.line) ?? []), `${i.path ? `${i.path}: ` : ""}${i.message}`]);
    return m;
  }, [composeIssues]);

  const nameErr = nameProblem(name) ?? formIssues.byField.get("name")?.join("; ") ?? null;

  // --- submit ----------------------------------------------------------------
  const create = useMutation({
    mutationFn: async ({ deploy }: { deploy: boolean }) => {
      const base = { name, description, ...(placed ? targetFields(placed) : { node_id: effectiveNode }), comment: "" };
      const body: ServiceCreate =
        mode === "form"
          ? { ...base, source: "ui", definition: built.definition }
          : { ...base, source: "import", compose, env: envText.trim() ? envText : null };
      const service = await servicesApi.create(body);
      if (!deploy) return { service, job: null };
      try {
        const { job } = await servicesApi.action(service.id, "deploy");
        return { service, job };
      } catch (err) {
        toast.error(`${service.name} was created, but the deploy could not start.`, { description: err instanceof Error ? err.message : undefined });
        return { service, job: null };
      }
    },
    meta: { toast: (err: unknown) => !issuesFromError(err) },
    onMutate: () => setSubmitIssues(null),
    onError: (err) => {
      const issues = issuesFromError(err);
      if (issues) setSubmitIssues(issues);
      else if (isApiError(err) && err.code === "service_exists") setSubmitIssues([{ path: "name", message: "already exists on this node" }]);
    },
    onSuccess: ({ service, job }) => {
      void queryClient.invalidateQueries({ queryKey: serviceKeys.lists() });
      if (job) announceJob(job, service.name, "deploy");
      else toast.success(`Created ${service.name}`, { description: "Deploy it when you're ready." });
      void navigate(`/services/${service.id}`);
    },
  });

  const hasContent = mode === "form" ? !!form.image.trim() : !!compose.trim();
  const blocking = !name || !!nameProblem(name) || !hasContent || (mode === "compose" && !!parsedCompose?.errors.length);
  const submit = (deploy: boolean) => {
    if (blocking || create.isPending) return;
    create.mutate({ deploy });
  };

  // --- file import -------------------------------------------------------------
  const loadFile = async (file: File) => {
    if (file.size > 1024 * 1024) {
      toast.error("That file is larger than 1 MiB.");
      return;
    }
    const text = await file.text();
    if (/^\.env/.test(file.name)) {
      setEnvText(text);
      setShowEnv(true);
      return;
    }
    setCompose(text);
    setSubmitIssues(null);
    if (!name) {
      const hint = composeNameHint(text);
      if (hint) setName(hint);
    }
  };
  const onDrop = (e: DragEvent) => {
    const file = e.dataTransfer.files[0];
    if (!file) return;
    e.preventDefault();
    void loadFile(file);
  };

  const setMode = (m: string) => {
    setSubmitIssues(null);
    setParams(m === "compose" ? { mode: "compose" } : {}, { replace: true });
  };

  const statusFor: ValidationState =
    mode === "compose" && parsedCompose?.errors.length
      ? { status: "invalid", issues: composeIssues, definition: null }
      : submitIssues
        ? { status: "invalid", issues: submitIssues, definition: null }
        : validation;

  return (
    <div className="mx-auto max-w-4xl pb-24">
      <Button asChild variant="ghost" size="sm" className="-ml-2 mb-3 text-muted-foreground">
        <Link to="/services">
          <ArrowLeft /> All services
        </Link>
      </Button>
      <h2 className="mb-1 text-xl font-semibold">New service</h2>
      <p className="mb-5 text-sm text-muted-foreground">Describe it with the form, or bring an existing docker-compose file. Nothing runs until you deploy.</p>

      <form
        onSubmit={(e) => {
          e.preventDefault();
          submit(false);
        }}
        className="space-y-5"
      >
        <Card>
          <CardContent className="grid gap-4 pt-5 sm:grid-cols-2">
            <div className="space-y-1.5">
              <Label htmlFor="svc-name">Name</Label>
              <Input
                id="svc-name"
                value={name}
                onChange={(e) => {
                  setName(e.target.value.toLowerCase());
                  if (submitIssues?.some((i) => i.path === "name")) setSubmitIssues(null);
                }}
                placeholder="e.g. shop-web"
                autoComplete="off"
                autoCapitalize="off"
                spellCheck={false}
                autoFocus
                className="font-mono"
                aria-invalid={nameErr ? true : undefined}
                aria-describedby="svc-name-help"
                data-testid="service-form-name"
              />
              {nameErr ? (
                <FieldError messages={[nameErr]} id="svc-name-help" />
              ) : (
                <p id="svc-name-help" className="text-xs text-muted-foreground">
                  Also the compose project name and the prefix of its containers.
                </p>
              )}
            </div>
            {nodeOptions.length > 1 || clusterOptions.length > 0 ? (
              <div className="space-y-1.5">
                <Label htmlFor="svc-node">Node</Label>
                <NativeSelect
                  id="svc-node"
                  value={placementChoice ?? effectiveNode ?? ""}
                  onChange={(e) => {
                    const value = e.target.value;
                    if (value === "auto" || value.startsWith("cluster:")) setPlacementChoice(value);
                    else {
                      setPlacementChoice(null);
                      setNodeId(Number(value));
                    }
                  }}
                  data-testid="service-form-node"
                >
                  {nodeOptions.map((n) => (
                    <option key={n.id} value={n.id}>
                      {n.name}
                      {n.status !== "online" ? " (offline)" : ""}
                    </option>
                  ))}
                  <option value="auto">Automatic: the scheduler picks a node</option>
                  {clusterOptions.map((c) => (
                    <option key={`cluster-${c.id}`} value={`cluster:${c.id}`}>
                      Cluster {c.name} (the scheduler picks a member)
                    </option>
                  ))}
                </NativeSelect>
              </div>
            ) : (
              <div className="hidden sm:block" />
            )}
            <div className="space-y-1.5 sm:col-span-2">
              <Label htmlFor="svc-description">
                Description <span className="font-normal text-muted-foreground">(optional)</span>
              </Label>
              <Input
                id="svc-description"
                value={description}
                onChange={(e) => setDescription(e.target.value)}
                placeholder="What it is for, who owns it"
                maxLength={2000}
                data-testid="service-form-description"
              />
            </div>
          </CardContent>
        </Card>

        <Tabs value={mode} onValueChange={setMode}>
          <Card>
            <CardHeader className="flex-row flex-wrap items-center justify-between gap-3 border-b pb-3">
              <div className="space-y-1">
                <CardTitle>Definition</CardTitle>
                <CardDescription>{mode === "form" ? "One container from an image." : "A compose file with one or more services."}</CardDescription>
              </div>
              <SegmentedList aria-label="How to describe the service">
                <SegmentedTrigger value="form" data-testid="create-mode-form">
                  <ListChecks /> Form
                </SegmentedTrigger>
                <SegmentedTrigger value="compose" data-testid="create-mode-compose">
                  <FileCode2 /> Compose YAML
                </SegmentedTrigger>
              </SegmentedList>
            </CardHeader>
            <CardContent className="pt-5">
              <TabsContent value="form" className="space-y-5">
                <ContainerFields value={form} onChange={(f) => (setForm(f), setSubmitIssues(null))} errors={localFormErrors} />
                <IssueList issues={formIssues.rest} title="Other problems" />
              </TabsContent>
              <TabsContent value="compose" className="space-y-4">
                <div className="flex flex-wrap items-center justify-between gap-2">
                  <p className="text-xs text-muted-foreground">Paste a docker-compose.yml, or drop / upload the file.</p>
                  <div className="flex gap-2">
                    <input
                      ref={fileRef}
                      type="file"
                      accept=".yml,.yaml,.env,text/yaml,application/yaml,text/plain"
                      className="sr-only"
                      tabIndex={-1}
                      aria-hidden
                      onChange={(e) => {
                        const f = e.target.files?.[0];
                        if (f) void loadFile(f);
                        e.target.value = "";
                      }}
                      data-testid="compose-file-input"
                    />
                    <Button type="button" variant="outline" size="sm" onClick={() => fileRef.current?.click()}>
                      <FileUp /> Upload file
                    </Button>
                  </div>
                </div>
                <div onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
                  <CodeEditor
                    ref={editorRef}
                    label="Compose YAML"
                    value={compose}
                    onChange={(v) => (setCompose(v), setSubmitIssues(null))}
                    placeholder={COMPOSE_PLACEHOLDER}
                    lineIssues={lineIssues}
                    className="h-[26rem]"
                    testId="compose-editor"
                  />
                </div>
                <p className="text-[11px] text-muted-foreground">Tab indents · Shift+Tab outdents · Esc then Tab moves on</p>
                <IssueList issues={composeIssues} onSelect={(i) => i.line != null && editorRef.current?.jumpTo(i.line)} />
                <div>
                  <button
                    type="button"
                    className="inline-flex cursor-pointer items-center gap-1 text-sm font-medium text-foreground/90 hover:text-foreground"
                    aria-expanded={showEnv}
                    aria-controls="svc-env"
                    onClick={() => setShowEnv((v) => !v)}
                  >
                    <ChevronDown className={showEnv ? "size-4" : "size-4 -rotate-90"} /> .env variables{" "}
                    <span className="font-normal text-muted-foreground">(optional, for ${"{VAR}"} in the file)</span>
                  </button>
                  {showEnv && (
                    <Textarea
                      id="svc-env"
                      aria-label=".env variables"
                      value={envText}
                      onChange={(e) => setEnvText(e.target.value)}
                      placeholder={"TAG=1.27\nDB_PASSWORD=change-me"}
                      spellCheck={false}
                      className="mt-2 h-32 font-mono text-[13px]"
                      data-testid="env-editor"
                    />
                  )}
                </div>
              </TabsContent>
            </CardContent>
          </Card>
        </Tabs>

        <div className="fixed inset-x-0 bottom-0 z-20 border-t bg-background/90 backdrop-blur lg:left-60">
          <div className="mx-auto flex max-w-4xl flex-wrap items-center justify-between gap-2 px-3 py-3 sm:px-4 lg:px-6">
            <ValidationStatus state={hasContent ? statusFor : { status: "idle", issues: [], definition: null }} />
            <div className="ml-auto flex gap-2">
              <Button type="button" variant="ghost" asChild className="max-sm:hidden">
                <Link to="/services">Cancel</Link>
              </Button>
              <Button type="submit" variant="outline" disabled={blocking || create.isPending} data-testid="create-submit">
                {create.isPending && !create.variables?.deploy && <Loader2 className="animate-spin" />}
                Create
              </Button>
              <Button type="button" disabled={blocking || create.isPending} onClick={() => submit(true)} data-testid="create-and-deploy-submit">
                {create.isPending && create.variables?.deploy ? <Loader2 className="animate-spin" /> : <Rocket />}
                Create and deploy
              </Button>
            </div>
          </div>
        </div>
      </form>
    </div>
  );
}
