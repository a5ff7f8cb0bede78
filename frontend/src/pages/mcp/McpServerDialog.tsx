import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Loader2 } from "lucide-react";
import { useEffect, useId, useState, type ReactNode } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { mcpApi, mcpKeys, type McpServerCreate, type McpServerOut } from "@/api/mcp";
import { Button } from "@/components/ui/button";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Textarea } from "@/components/ui/textarea";

interface Form {
  name: string;
  url: string;
  transport: "streamable_http" | "sse";
  description: string;
  tags: string;
  headers: string;
  changeHeaders: boolean;
  serviceId: string;
  intervalS: string;
  timeoutS: string;
  enabled: boolean;
}

function formOf(s: McpServerOut | null): Form {
  return {
    name: s?.name ?? "",
    url: s?.url ?? "",
    transport: (s?.transport as Form["transport"] | undefined) ?? "streamable_http",
    description: s?.description ?? "",
    tags: (s?.tags ?? []).join(", "),
    headers: "",
    changeHeaders: s === null,
    serviceId: s?.service_id != null ? String(s.service_id) : "",
    intervalS: String(s?.check_interval_s ?? 60),
    timeoutS: String(s?.timeout_s ?? 10),
    enabled: s?.enabled ?? true,
  };
}

/** `Name: value` lines to a header map. */
export function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
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

/** Register or edit an MCP server. Header values are write-only: only their names come back. */
export function McpServerDialog({ open, onOpenChange, server }: { open: boolean; onOpenChange: (o: boolean) => void; server: McpServerOut | null }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const id = (s: string) => `${ids}-${s}`;
  const [f, setF] = useState<Form>(() => formOf(server));
  const [formError, setFormError] = useState<string | null>(null);
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setF((prev) => ({ ...prev, [key]: value }));

  useEffect(() => {
    if (!open) return;
    setF(formOf(server));
    setFormError(null);
  }, [open, server]);

  const save = useMutation({
    mutationFn: () => {
      const body: McpServerCreate = {
        name: f.name.trim(),
        url: f.url.trim(),
        transport: f.transport,
        description: f.description,
        tags: f.tags
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean),
        service_id: f.serviceId ? Number(f.serviceId) : null,
        check_interval_s: Number(f.intervalS),
        timeout_s: Number(f.timeoutS),
        enabled: f.enabled,
      };
      if (f.changeHeaders) body.headers = parseHeaders(f.headers);
      if (server) return mcpApi.update(server.id, body);
      return mcpApi.create(body);
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(isApiError(err) ? err.message : "Saving failed."),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: mcpKeys.all });
      toast(server ? `Saved ${saved.name}` : `Added ${saved.name}`);
      onOpenChange(false);
    },
  });

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="mcp-dialog" className="sm:max-w-2xl">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{server ? `Edit ${server.name}` : "Add an MCP server"}</DialogTitle>
            <DialogDescription>Checked on an interval with the MCP client: initialize, then list the tools.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="grid gap-4 sm:grid-cols-[1fr_12rem]">
              <Field label="Name" htmlFor={id("name")}>
                <Input id={id("name")} value={f.name} onChange={(e) => set("name", e.target.value)} required maxLength={100} data-testid="mcp-name" />
              </Field>
              <Field label="Transport" htmlFor={id("transport")}>
                <NativeSelect id={id("transport")} value={f.transport} onChange={(e) => set("transport", e.target.value as Form["transport"])} data-testid="mcp-transport">
                  <option value="streamable_http">Streamable HTTP</option>
                  <option value="sse">SSE</option>
                </NativeSelect>
              </Field>
            </div>
            <Field label="URL" htmlFor={id("url")} hint="The endpoint, e.g. http://10.0.0.5:8000/mcp (streamable HTTP) or …/sse.">
              <Input id={id("url")} value={f.url} onChange={(e) => set("url", e.target.value)} required className="font-mono" data-testid="mcp-url" />
            </Field>
            <Field label="Description" htmlFor={id("desc")}>
              <Input id={id("desc")} value={f.description} onChange={(e) => set("description", e.target.value)} maxLength={2000} />
            </Field>
            <div className="grid gap-4 sm:grid-cols-2">
              <Field label="Tags" htmlFor={id("tags")} hint="Comma-separated.">
                <Input id={id("tags")} value={f.tags} onChange={(e) => set("tags", e.target.value)} data-testid="mcp-tags" />
              </Field>
              <Field label="Linked service id" htmlFor={id("service")} hint="The Dockyard service that runs it (optional).">
                <Input id={id("service")} type="number" min={1} value={f.serviceId} onChange={(e) => set("serviceId", e.target.value)} />
              </Field>
            </div>
            <div className="space-y-1.5">
              {server && (
                <label className="flex items-center gap-2 text-sm">
                  <Checkbox checked={f.changeHeaders} onChange={(e) => set("changeHeaders", e.target.checked)} />
                  Replace headers {server.header_names.length > 0 && <span className="text-muted-foreground">(stored: {server.header_names.join(", ")})</span>}
                </label>
              )}
              {f.changeHeaders && (
                <Field label="Headers" htmlFor={id("headers")} hint="One `Name: value` per line, e.g. Authorization: Bearer …; stored encrypted, never shown again.">
                  <Textarea id={id("headers")} value={f.headers} onChange={(e) => set("headers", e.target.value)} rows={2} className="font-mono text-xs" data-testid="mcp-headers" />
                </Field>
              )}
            </div>
            <div className="grid gap-4 sm:grid-cols-3">
              <Field label="Check every (s)" htmlFor={id("interval")}>
                <Input id={id("interval")} type="number" min={10} value={f.intervalS} onChange={(e) => set("intervalS", e.target.value)} />
              </Field>
              <Field label="Timeout (s)" htmlFor={id("timeout")}>
                <Input id={id("timeout")} type="number" min={0.1} step="any" value={f.timeoutS} onChange={(e) => set("timeoutS", e.target.value)} />
              </Field>
              <label className="flex items-end gap-2 pb-2 text-sm">
                <Checkbox checked={f.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled
              </label>
            </div>
            {formError && (
              <p className="text-sm text-red-700 dark:text-red-300" role="alert" data-testid="mcp-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending} data-testid="mcp-save">
              {save.isPending && <Loader2 className="animate-spin" />} {server ? "Save" : "Add server"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
