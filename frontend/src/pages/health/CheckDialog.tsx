import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Loader2 } from "lucide-react";
import { useEffect, useId, useState, type ReactNode } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { healthApi, healthKeys, type CheckKind, type HealthCheckCreate, type HealthCheckOut } from "@/api/health";
import { useServices } from "@/api/serviceQueries";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";

const REDACTED = "<redacted>";
type RemediationAction = "" | "restart_container" | "redeploy_service";

interface Form {
  name: string;
  kind: CheckKind;
  url: string;
  method: string;
  expectedStatus: string;
  keyword: string;
  jsonPath: string;
  expectedValue: string;
  headers: string;
  verifyTls: boolean;
  host: string;
  port: string;
  dockerBy: "service" | "container";
  serviceId: string;
  container: string;
  mcpServerId: string;
  intervalS: string;
  timeoutS: string;
  retries: string;
  enabled: boolean;
  remediation: RemediationAction;
  afterFailures: string;
  maxPerHour: string;
  remediationServiceId: string;
}

function str(v: unknown): string {
  return v === null || v === undefined ? "" : String(v as string | number);
}

function formOf(check: HealthCheckOut | null): Form {
  const t = (check?.target ?? {}) as Record<string, unknown>;
  const headers = (t.headers ?? {}) as Record<string, string>;
  const rem = check?.remediation;
  return {
    name: check?.name ?? "",
    kind: check?.kind ?? "http",
    url: str(t.url),
    method: str(t.method) || "GET",
    expectedStatus: str(t.expected_status) || "200-399",
    keyword: str(t.keyword),
    jsonPath: str(t.json_path),
    expectedValue: t.expected_value === undefined || t.expected_value === null ? "" : JSON.stringify(t.expected_value),
    headers: Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n"),
    verifyTls: t.verify_tls === undefined ? true : Boolean(t.verify_tls),
    host: str(t.host),
    port: str(t.port),
    dockerBy: t.container ? "container" : "service",
    serviceId: str(t.service_id),
    container: str(t.container),
    mcpServerId: str(t.mcp_server_id),
    intervalS: str(check?.interval_s ?? 60),
    timeoutS: str(check?.timeout_s ?? 10),
    retries: str(check?.retries ?? 1),
    enabled: check?.enabled ?? true,
    remediation: (rem?.action ?? "") as RemediationAction,
    afterFailures: str(rem?.after_failures ?? 3),
    maxPerHour: str(rem?.max_per_hour ?? 3),
    remediationServiceId: str(rem?.service_id),
  };
}

function parseValue(text: string): unknown {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function targetOf(f: Form): Record<string, unknown> {
  switch (f.kind) {
    case "http": {
      const headers: Record<string, string> = {};
      for (const line of f.headers.split("\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      return {
        url: f.url.trim(),
        method: f.method,
        expected_status: f.expectedStatus.trim() || "200-399",
        keyword: f.keyword || null,
        json_path: f.jsonPath || null,
        expected_value: f.jsonPath ? parseValue(f.expectedValue) : null,
        headers,
        verify_tls: f.verifyTls,
      };
    }
    case "tcp":
      return { host: f.host.trim(), port: Number(f.port) };
    case "docker":
      return f.dockerBy === "service" ? { service_id: Number(f.serviceId) } : { container: f.container.trim() };
    case "mcp":
      return { mcp_server_id: Number(f.mcpServerId) };
  }
}

function Field({ label, htmlFor, hint, children }: { label: string; htmlFor: string; hint?: string; children: ReactNode }) {
  return (
    <div className="space-y-1.5">
      <Label htmlFor={htmlFor}>{label}</Label>
      {children}
      {hint && <p className="text-xs text-muted-foreground">{hint}</p>}
    </div>
  );
}

/** Create or edit a health check; the target fields follow the kind. */
export function CheckDialog({ open, onOpenChange, check }: { open: boolean; onOpenChange: (o: boolean) => void; check: HealthCheckOut | null }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [f, setF] = useState<Form>(() => formOf(check));
  const [formError, setFormError] = useState<string | null>(null);
  const services = useServices("", false);
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setF((prev) => ({ ...prev, [key]: value }));

  useEffect(() => {
    if (!open) return;
    setF(formOf(check));
    setFormError(null);
  }, [open, check]);

  const save = useMutation({
    mutationFn: () => {
      const remediation = f.remediation
        ? {
            action: f.remediation,
            after_failures: Number(f.afterFailures),
            max_per_hour: Number(f.maxPerHour),
            service_id: f.remediationServiceId ? Number(f.remediationServiceId) : null,
          }
        : null;
      const common = {
        name: f.name.trim(),
        target: targetOf(f),
        interval_s: Number(f.intervalS),
        timeout_s: Number(f.timeoutS),
        retries: Number(f.retries),
        enabled: f.enabled,
        remediation,
      };
      if (check) return healthApi.update(check.id, common);
      const body: HealthCheckCreate = { ...common, kind: f.kind };
      return healthApi.create(body);
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && err.status === 422) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(isApiError(err) ? err.message : "Saving failed."),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: healthKeys.all });
      toast(check ? `Saved ${saved.name}` : `Added ${saved.name}`);
      onOpenChange(false);
    },
  });

  const id = (s: string) => `${ids}-${s}`;
  const serviceOptions = services.data?.items ?? [];
  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="check-dialog" className="sm:max-w-2xl">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{check ? `Edit ${check.name}` : "Add a health check"}</DialogTitle>
            <DialogDescription>Probed every interval; after the given number of consecutive failures the check is down and alerts fire.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="grid gap-4 sm:grid-cols-[1fr_12rem]">
              <Field label="Name" htmlFor={id("name")}>
                <Input id={id("name")} value={f.name} onChange={(e) => set("name", e.target.value)} required maxLength={100} data-testid="check-name" />
              </Field>
              <Field label="Kind" htmlFor={id("kind")}>
                <NativeSelect id={id("kind")} value={f.kind} disabled={check !== null} onChange={(e) => set("kind", e.target.value as CheckKind)} data-testid="check-kind">
                  <option value="http">HTTP(S)</option>
                  <option value="tcp">TCP connect</option>
                  <option value="docker">Docker state</option>
                  <option value="mcp">MCP server</option>
                </NativeSelect>
              </Field>
            </div>

            {f.kind === "http" && (
              <div className="space-y-4 rounded-md border p-3">
                <div className="grid gap-4 sm:grid-cols-[7rem_1fr]">
                  <Field label="Method" htmlFor={id("method")}>
                    <NativeSelect id={id("method")} value={f.method} onChange={(e) => set("method", e.target.value)}>
                      {["GET", "HEAD", "POST", "PUT", "OPTIONS"].map((m) => (
                        <option key={m}>{m}</option>
                      ))}
                    </NativeSelect>
                  </Field>
                  <Field label="URL" htmlFor={id("url")}>
                    <Input id={id("url")} value={f.url} onChange={(e) => set("url", e.target.value)} placeholder="https://app.example.com/health" className="font-mono" required data-testid="check-url" />
                  </Field>
                </div>
                <div className="grid gap-4 sm:grid-cols-2">
                  <Field label="Expected status" htmlFor={id("status")} hint="Codes or ranges: 200-399, 204">
                    <Input id={id("status")} value={f.expectedStatus} onChange={(e) => set("expectedStatus", e.target.value)} className="font-mono" />
                  </Field>
                  <Field label="Keyword in body" htmlFor={id("keyword")} hint="Optional">
                    <Input id={id("keyword")} value={f.keyword} onChange={(e) => set("keyword", e.target.value)} data-testid="check-keyword" />
                  </Field>
                  <Field label="JSON path" htmlFor={id("jsonpath")} hint="Optional, e.g. status.db">
                    <Input id={id("jsonpath")} value={f.jsonPath} onChange={(e) => set("jsonPath", e.target.value)} className="font-mono" />
                  </Field>
                  <Field label="Expected value" htmlFor={id("jsonvalue")} hint="JSON or text; empty: the path must exist">
                    <Input id={id("jsonvalue")} value={f.expectedValue} onChange={(e) => set("expectedValue", e.target.value)} className="font-mono" disabled={!f.jsonPath} />
                  </Field>
                </div>
                <Field label="Headers" htmlFor={id("headers")} hint={`One "Name: value" per line. Stored values show as ${REDACTED}; leave them to keep them.`}>
                  <Textarea id={id("headers")} value={f.headers} onChange={(e) => set("headers", e.target.value)} rows={2} className="font-mono text-xs" />
                </Field>
                <label className="flex items-center gap-2 text-sm">
                  <Checkbox checked={f.verifyTls} onChange={(e) => set("verifyTls", e.target.checked)} />
                  Verify TLS certificates
                </label>
              </div>
            )}
            {f.kind === "tcp" && (
              <div className="grid gap-4 rounded-md border p-3 sm:grid-cols-[1fr_8rem]">
                <Field label="Host" htmlFor={id("host")}>
                  <Input id={id("host")} value={f.host} onChange={(e) => set("host", e.target.value)} required className="font-mono" data-testid="check-host" />
                </Field>
                <Field label="Port" htmlFor={id("port")}>
                  <Input id={id("port")} type="number" min={1} max={65535} value={f.port} onChange={(e) => set("port", e.target.value)} required data-testid="check-port" />
                </Field>
              </div>
            )}
            {f.kind === "docker" && (
              <div className="grid gap-4 rounded-md border p-3 sm:grid-cols-[10rem_1fr]">
                <Field label="Watch" htmlFor={id("dockerby")}>
                  <NativeSelect id={id("dockerby")} value={f.dockerBy} onChange={(e) => set("dockerBy", e.target.value as Form["dockerBy"])}>
                    <option value="service">A service</option>
                    <option value="container">A container</option>
                  </NativeSelect>
                </Field>
                {f.dockerBy === "service" ? (
                  <Field label="Service" htmlFor={id("service")} hint="Up while every container runs (and is healthy, with a healthcheck).">
                    <NativeSelect id={id("service")} value={f.serviceId} onChange={(e) => set("serviceId", e.target.value)} required data-testid="check-service">
                      <option value="">Choose a service…</option>
                      {serviceOptions.map((s) => (
                        <option key={s.id} value={s.id}>
                          {s.name}
                        </option>
                      ))}
                    </NativeSelect>
                  </Field>
                ) : (
                  <Field label="Container name" htmlFor={id("container")}>
                    <Input id={id("container")} value={f.container} onChange={(e) => set("container", e.target.value)} required className="font-mono" />
                  </Field>
                )}
              </div>
            )}
            {f.kind === "mcp" && (
              <div className="rounded-md border p-3">
                <Field label="MCP server id" htmlFor={id("mcp")} hint="Initializes a session and lists the server's tools.">
                  <Input id={id("mcp")} type="number" min={1} value={f.mcpServerId} onChange={(e) => set("mcpServerId", e.target.value)} required />
                </Field>
              </div>
            )}

            <div className="grid gap-4 sm:grid-cols-3">
              <Field label="Interval (s)" htmlFor={id("interval")}>
                <Input id={id("interval")} type="number" min={5} value={f.intervalS} onChange={(e) => set("intervalS", e.target.value)} data-testid="check-interval" />
              </Field>
              <Field label="Timeout (s)" htmlFor={id("timeout")}>
                <Input id={id("timeout")} type="number" min={0.1} step="any" value={f.timeoutS} onChange={(e) => set("timeoutS", e.target.value)} />
              </Field>
              <Field label="Failures before down" htmlFor={id("retries")}>
                <Input id={id("retries")} type="number" min={1} max={20} value={f.retries} onChange={(e) => set("retries", e.target.value)} data-testid="check-retries" />
              </Field>
            </div>

            <div className="space-y-3 rounded-md border p-3">
              <Field label="Remediation" htmlFor={id("rem")} hint="Runs as a service job, at most the given times per hour; every attempt is audited.">
                <NativeSelect id={id("rem")} value={f.remediation} onChange={(e) => set("remediation", e.target.value as RemediationAction)} data-testid="check-remediation">
                  <option value="">None</option>
                  <option value="restart_container">Restart the service's containers</option>
                  <option value="redeploy_service">Redeploy the service</option>
                </NativeSelect>
              </Field>
              {f.remediation && (
                <div className="grid gap-4 sm:grid-cols-3">
                  <Field label="Service" htmlFor={id("remservice")}>
                    <NativeSelect id={id("remservice")} value={f.remediationServiceId} onChange={(e) => set("remediationServiceId", e.target.value)} data-testid="check-remediation-service">
                      <option value="">{f.kind === "docker" && f.dockerBy === "service" ? "The watched service" : "Choose a service…"}</option>
                      {serviceOptions.map((s) => (
                        <option key={s.id} value={s.id}>
                          {s.name}
                        </option>
                      ))}
                    </NativeSelect>
                  </Field>
                  <Field label="After failures" htmlFor={id("after")}>
                    <Input id={id("after")} type="number" min={1} value={f.afterFailures} onChange={(e) => set("afterFailures", e.target.value)} />
                  </Field>
                  <Field label="At most per hour" htmlFor={id("perhour")}>
                    <Input id={id("perhour")} type="number" min={1} max={60} value={f.maxPerHour} onChange={(e) => set("maxPerHour", e.target.value)} />
                  </Field>
                </div>
              )}
            </div>
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} data-testid="check-enabled" />
              Enabled (probed on its interval)
            </label>
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="check-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending || !f.name} data-testid="check-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              {check ? "Save" : "Add check"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
