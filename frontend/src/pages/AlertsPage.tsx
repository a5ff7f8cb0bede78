import { useMutation, useQueryClient } from "@tanstack/react-query";
import { BellRing, Check, CheckCircle2, Loader2, Pencil, Plus, Send, Trash2, XCircle } from "lucide-react";
import { useEffect, useState } from "react";
import { useParams, useNavigate } from "react-router";
import { toast } from "sonner";
import {
  CONDITION_KINDS,
  alertKeys,
  alertsApi,
  conditionLabel,
  useAlertChannels,
  useAlertRules,
  useAlerts,
  type AlertOut,
  type ChannelIn,
  type ChannelOut,
  type ChannelTestResult,
  type RuleIn,
  type RuleOut,
} from "@/api/alerts";
import { isApiError } from "@/api/errors";
import { useMcpServers } from "@/api/mcp";
import { useNodes } from "@/api/queries";
import { useServices } from "@/api/serviceQueries";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { formatRelative, formatUtc } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useCan } from "@/lib/permissions";

type Tab = "alerts" | "rules" | "channels";

function errorText(err: unknown): string {
  if (!isApiError(err)) return "Something went wrong.";
  const errors = (err.details?.errors ?? []) as { path?: string; message?: string }[];
  return errors.length ? errors.map((e) => `${e.path}: ${e.message}`).join("; ") : err.message;
}

// ---------------------------------------------------------------- alerts

function AlertStatus({ alert }: { alert: AlertOut }) {
  return alert.status === "firing" ? (
    <Badge tone="danger"><BellRing className="size-3" /> Firing</Badge>
  ) : (
    <Badge tone="success"><CheckCircle2 className="size-3" /> Resolved</Badge>
  );
}

function AlertsTab() {
  const [status, setStatus] = useState<"firing" | "resolved" | "all">("firing");
  const alerts = useAlerts(status === "all" ? undefined : status);
  const canManage = useCan("alerts:manage");
  const qc = useQueryClient();
  const ack = useMutation({
    mutationFn: (id: number) => alertsApi.ack(id),
    onSuccess: (a) => {
      toast(a.status === "resolved" ? "Acknowledged and resolved" : "Acknowledged");
      void qc.invalidateQueries({ queryKey: alertKeys.all });
    },
  });
  return (
    <Card className="overflow-hidden">
      <div className="flex items-center justify-between gap-3 border-b px-4 py-3">
        <div className="flex gap-1" role="group" aria-label="Alert status">
          {(["firing", "resolved", "all"] as const).map((s) => (
            <Button key={s} size="sm" variant={status === s ? "secondary" : "ghost"} onClick={() => setStatus(s)} data-testid={`alerts-filter-${s}`}>
              {s === "firing" ? "Firing" : s === "resolved" ? "Resolved" : "All"}
            </Button>
          ))}
        </div>
        {alerts.data && <span className="text-xs text-muted-foreground">{alerts.data.firing} firing</span>}
      </div>
      {alerts.isPending ? (
        <div className="space-y-2 p-4">{Array.from({ length: 4 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}</div>
      ) : alerts.isError ? (
        <ErrorState error={alerts.error} title="Couldn't load alerts" onRetry={() => void alerts.refetch()} />
      ) : alerts.data.items.length === 0 ? (
        <p className="px-4 py-8 text-center text-sm text-muted-foreground" data-testid="alerts-empty">
          {status === "firing" ? "Nothing is firing." : "No alerts yet."}
        </p>
      ) : (
        <Table data-testid="alerts-table">
          <TableHeader>
            <TableRow>
              <TableHead>Status</TableHead>
              <TableHead>Alert</TableHead>
              <TableHead>Rule</TableHead>
              <TableHead>Started</TableHead>
              <TableHead>Resolved</TableHead>
              <TableHead className="text-right" />
            </TableRow>
          </TableHeader>
          <TableBody>
            {alerts.data.items.map((a) => (
              <TableRow key={a.id} data-testid={`alert-row-${a.id}`}>
                <TableCell><AlertStatus alert={a} /></TableCell>
                <TableCell className="max-w-md">
                  <div className="truncate font-medium" title={a.summary}>{a.summary}</div>
                  <div className="text-xs text-muted-foreground">
                    {a.occurrences > 1 && `${a.occurrences}× · `}
                    {!a.notified && "not notified (cooldown) · "}
                    {a.acknowledged_by && `acknowledged by ${a.acknowledged_by}`}
                  </div>
                </TableCell>
                <TableCell className="text-sm">{a.rule_name}</TableCell>
                <TableCell className="text-sm" title={formatUtc(a.started_at)}>{formatRelative(a.started_at)}</TableCell>
                <TableCell className="text-sm" title={formatUtc(a.resolved_at)}>{a.resolved_at ? formatRelative(a.resolved_at) : "—"}</TableCell>
                <TableCell className="text-right">
                  {canManage && !a.acknowledged_at && (
                    <Button size="sm" variant="outline" onClick={() => ack.mutate(a.id)} disabled={ack.isPending} data-testid={`alert-ack-${a.id}`}>
                      <Check /> Acknowledge
                    </Button>
                  )}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Card>
  );
}

// ---------------------------------------------------------------- rules

interface RuleForm {
  name: string;
  kind: RuleIn["condition"]["kind"];
  threshold_pct: string;
  threshold: string;
  period: string;
  window_s: string;
  include_unhealthy: boolean;
  job_kinds: string;
  scopeType: "all" | "node" | "service" | "mcp";
  scopeIds: number[];
  for_s: string;
  cooldown_s: string;
  channels: number[];
  enabled: boolean;
}

function formOf(rule: RuleOut | null): RuleForm {
  const c = (rule?.condition ?? {}) as Record<string, unknown>;
  return {
    name: rule?.name ?? "",
    kind: (rule?.condition.kind as RuleForm["kind"]) ?? "service_down",
    threshold_pct: c.threshold_pct != null ? String(c.threshold_pct) : "90",
    threshold: c.threshold != null ? String(c.threshold) : "10",
    period: typeof c.period === "string" ? c.period : "day",
    window_s: c.window_s != null ? String(c.window_s) : "3600",
    include_unhealthy: c.include_unhealthy !== false,
    job_kinds: Array.isArray(c.job_kinds) ? c.job_kinds.join(", ") : "",
    scopeType: rule?.scope.type ?? "all",
    scopeIds: rule?.scope.ids ?? [],
    for_s: String(rule?.for_s ?? 60),
    cooldown_s: String(rule?.cooldown_s ?? 300),
    channels: rule?.channels ?? [],
    enabled: rule?.enabled ?? true,
  };
}

function bodyOf(f: RuleForm): RuleIn {
  const spec = CONDITION_KINDS.find((k) => k.kind === f.kind);
  const condition: Record<string, unknown> = { kind: f.kind };
  for (const field of spec?.fields ?? []) {
    if (field === "include_unhealthy") condition.include_unhealthy = f.include_unhealthy;
    else if (field === "job_kinds") {
      const kinds = f.job_kinds.split(",").map((s) => s.trim()).filter(Boolean);
      if (kinds.length) condition.job_kinds = kinds;
    } else if (field === "period") condition.period = f.period;
    else condition[field] = Number(f[field]);
  }
  return {
    name: f.name,
    condition: condition as RuleIn["condition"],
    scope: { type: f.scopeType, ids: f.scopeType === "all" ? [] : f.scopeIds },
    for_s: Number(f.for_s) || 0,
    cooldown_s: Number(f.cooldown_s) || 0,
    channels: f.channels,
    enabled: f.enabled,
  };
}

function toggle(list: number[], id: number): number[] {
  return list.includes(id) ? list.filter((x) => x !== id) : [...list, id];
}

function RuleEditor({ open, onOpenChange, rule }: { open: boolean; onOpenChange: (o: boolean) => void; rule: RuleOut | null }) {
  const [form, setForm] = useState<RuleForm>(formOf(rule));
  const [error, setError] = useState<string | null>(null);
  const channels = useAlertChannels(open);
  const nodes = useNodes();
  const services = useServices("", false);
  const mcpServers = useMcpServers();
  const qc = useQueryClient();
  useEffect(() => {
    if (open) {
      setForm(formOf(rule));
      setError(null);
    }
  }, [open, rule]);
  const spec = CONDITION_KINDS.find((k) => k.kind === form.kind);
  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const save = useMutation({
    mutationFn: () => (rule ? alertsApi.updateRule(rule.id, bodyOf(form)) : alertsApi.createRule(bodyOf(form))),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setError(null),
    onSuccess: (saved) => {
      toast(rule ? `Saved ${saved.name}` : `Created ${saved.name}`);
      void qc.invalidateQueries({ queryKey: alertKeys.rules() });
      onOpenChange(false);
    },
    onError: (err) => setError(errorText(err)),
  });
  const scopeOptions =
    form.scopeType === "node"
      ? (nodes.data?.items ?? []).map((n) => ({ id: n.id, name: n.name }))
      : form.scopeType === "service"
        ? (services.data?.items ?? []).map((s) => ({ id: s.id, name: s.name }))
        : form.scopeType === "mcp"
          ? (mcpServers.data?.items ?? []).map((m) => ({ id: m.id, name: m.name }))
          : [];
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="sm:max-w-xl" data-testid="rule-editor">
        <DialogHeader>
          <DialogTitle>{rule ? `Edit rule ${rule.name}` : "New alert rule"}</DialogTitle>
          <DialogDescription>When the condition holds for the given time, notify the selected channels.</DialogDescription>
        </DialogHeader>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor="rule-name">Name</Label>
              <Input id="rule-name" value={form.name} onChange={(e) => set("name", e.target.value)} required maxLength={128} />
            </div>
            <div className="grid gap-3 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor="rule-kind">Condition</Label>
                <NativeSelect
                  id="rule-kind"
                  value={form.kind}
                  onChange={(e) => {
                    const kind = e.target.value as RuleForm["kind"];
                    const allowed = CONDITION_KINDS.find((k) => k.kind === kind)?.scopes ?? ["all"];
                    setForm((f) => ({ ...f, kind, scopeType: allowed.includes(f.scopeType) ? f.scopeType : "all", scopeIds: [] }));
                  }}
                >
                  {CONDITION_KINDS.map((k) => (
                    <option key={k.kind} value={k.kind}>{k.label}</option>
                  ))}
                </NativeSelect>
              </div>
              <div className="space-y-1.5">
                <Label htmlFor="rule-scope">Scope</Label>
                <NativeSelect id="rule-scope" value={form.scopeType} onChange={(e) => setForm((f) => ({ ...f, scopeType: e.target.value as RuleForm["scopeType"], scopeIds: [] }))}>
                  {(spec?.scopes ?? ["all"]).map((s) => (
                    <option key={s} value={s}>{s === "all" ? "Everything" : s === "mcp" ? "MCP servers" : `Selected ${s}s`}</option>
                  ))}
                </NativeSelect>
              </div>
            </div>
            {spec?.note === "metrics" && (
              <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-300">
                Host and container metrics are not collected yet: the rule is saved and fires once they are.
              </p>
            )}
            {spec && spec.fields.length > 0 && (
              <div className="grid gap-3 sm:grid-cols-2">
                {spec.fields.includes("threshold_pct") && (
                  <div className="space-y-1.5">
                    <Label htmlFor="rule-threshold-pct">Threshold (%)</Label>
                    <Input id="rule-threshold-pct" type="number" min={1} max={100} step="any" value={form.threshold_pct} onChange={(e) => set("threshold_pct", e.target.value)} />
                  </div>
                )}
                {spec.fields.includes("threshold") && (
                  <div className="space-y-1.5">
                    <Label htmlFor="rule-threshold">Cost threshold</Label>
                    <Input id="rule-threshold" type="number" min={0} step="any" value={form.threshold} onChange={(e) => set("threshold", e.target.value)} />
                  </div>
                )}
                {spec.fields.includes("period") && (
                  <div className="space-y-1.5">
                    <Label htmlFor="rule-period">Per</Label>
                    <NativeSelect id="rule-period" value={form.period} onChange={(e) => set("period", e.target.value)}>
                      {["hour", "day", "week", "month"].map((p) => <option key={p} value={p}>{p}</option>)}
                    </NativeSelect>
                  </div>
                )}
                {spec.fields.includes("window_s") && (
                  <div className="space-y-1.5">
                    <Label htmlFor="rule-window">Window (seconds)</Label>
                    <Input id="rule-window" type="number" min={60} value={form.window_s} onChange={(e) => set("window_s", e.target.value)} />
                  </div>
                )}
                {spec.fields.includes("job_kinds") && (
                  <div className="space-y-1.5 sm:col-span-2">
                    <Label htmlFor="rule-job-kinds">Job kinds (comma separated, empty: all)</Label>
                    <Input id="rule-job-kinds" value={form.job_kinds} placeholder="service.deploy, service.update" onChange={(e) => set("job_kinds", e.target.value)} />
                  </div>
                )}
                {spec.fields.includes("include_unhealthy") && (
                  <label className="flex items-center gap-2 text-sm sm:col-span-2">
                    <Checkbox checked={form.include_unhealthy} onChange={(e) => set("include_unhealthy", e.target.checked)} />
                    Also when a container is unhealthy
                  </label>
                )}
              </div>
            )}
            {scopeOptions.length > 0 && (
              <fieldset className="space-y-1.5">
                <legend className="text-sm font-medium">Applies to</legend>
                <div className="flex max-h-32 flex-wrap gap-x-4 gap-y-1 overflow-auto">
                  {scopeOptions.map((o) => (
                    <label key={o.id} className="flex items-center gap-2 text-sm">
                      <Checkbox checked={form.scopeIds.includes(o.id)} onChange={() => set("scopeIds", toggle(form.scopeIds, o.id))} />
                      {o.name}
                    </label>
                  ))}
                </div>
              </fieldset>
            )}
            <div className="grid gap-3 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor="rule-for">For (seconds)</Label>
                <Input id="rule-for" type="number" min={0} value={form.for_s} onChange={(e) => set("for_s", e.target.value)} />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor="rule-cooldown">Cooldown (seconds)</Label>
                <Input id="rule-cooldown" type="number" min={0} value={form.cooldown_s} onChange={(e) => set("cooldown_s", e.target.value)} />
              </div>
            </div>
            <fieldset className="space-y-1.5">
              <legend className="text-sm font-medium">Notify</legend>
              {(channels.data?.items ?? []).length === 0 ? (
                <p className="text-xs text-muted-foreground">No channels yet: alerts still show here and on the dashboard.</p>
              ) : (
                <div className="flex flex-wrap gap-x-4 gap-y-1">
                  {channels.data?.items.map((c) => (
                    <label key={c.id} className="flex items-center gap-2 text-sm">
                      <Checkbox checked={form.channels.includes(c.id)} onChange={() => set("channels", toggle(form.channels, c.id))} data-testid={`rule-channel-${c.name}`} />
                      {c.name} <span className="text-xs text-muted-foreground">({c.type})</span>
                    </label>
                  ))}
                </div>
              )}
            </fieldset>
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled
            </label>
            {error && <p className="text-sm text-destructive" role="alert" data-testid="rule-error">{error}</p>}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={save.isPending || !form.name.trim()} data-testid="rule-save">
              {save.isPending && <Loader2 className="animate-spin" />} {rule ? "Save" : "Create rule"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function RulesTab() {
  const rules = useAlertRules();
  const channels = useAlertChannels();
  const canManage = useCan("alerts:manage");
  const [editing, setEditing] = useState<RuleOut | null>(null);
  const [open, setOpen] = useState(false);
  const [deleting, setDeleting] = useState<RuleOut | null>(null);
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: number) => alertsApi.deleteRule(id),
    onSuccess: () => {
      toast("Rule deleted");
      setDeleting(null);
      void qc.invalidateQueries({ queryKey: alertKeys.all });
    },
  });
  const channelName = (id: number) => channels.data?.items.find((c) => c.id === id)?.name ?? `#${id}`;
  return (
    <Card className="overflow-hidden">
      <div className="flex items-center justify-between border-b px-4 py-3">
        <p className="text-sm text-muted-foreground">Conditions that open alerts.</p>
        {canManage && (
          <Button size="sm" onClick={() => { setEditing(null); setOpen(true); }} data-testid="rule-new">
            <Plus /> New rule
          </Button>
        )}
      </div>
      {rules.isPending ? (
        <div className="space-y-2 p-4">{Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}</div>
      ) : rules.isError ? (
        <ErrorState error={rules.error} title="Couldn't load rules" onRetry={() => void rules.refetch()} />
      ) : rules.data.items.length === 0 ? (
        <p className="px-4 py-8 text-center text-sm text-muted-foreground">No rules yet.</p>
      ) : (
        <Table data-testid="rules-table">
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Condition</TableHead>
              <TableHead>Scope</TableHead>
              <TableHead>For</TableHead>
              <TableHead>Channels</TableHead>
              <TableHead>Firing</TableHead>
              <TableHead />
            </TableRow>
          </TableHeader>
          <TableBody>
            {rules.data.items.map((r) => (
              <TableRow key={r.id} data-testid={`rule-row-${r.name}`}>
                <TableCell className="font-medium">
                  {r.name} {!r.enabled && <Badge>disabled</Badge>}
                  {r.note && <div className="text-xs text-amber-700 dark:text-amber-300">{r.note}</div>}
                </TableCell>
                <TableCell className="text-sm">{conditionLabel(r.condition)}</TableCell>
                <TableCell className="text-sm">{r.scope.type === "all" ? "everything" : `${r.scope.ids?.length ?? 0} ${r.scope.type}(s)`}</TableCell>
                <TableCell className="text-sm">{r.for_s ? `${r.for_s}s` : "at once"}</TableCell>
                <TableCell className="text-sm">{r.channels.length ? r.channels.map(channelName).join(", ") : "in-app only"}</TableCell>
                <TableCell>{r.firing > 0 ? <Badge tone="danger">{r.firing}</Badge> : <Badge tone="success">0</Badge>}</TableCell>
                <TableCell className="text-right">
                  {canManage && (
                    <div className="flex justify-end gap-1">
                      <Button size="icon" variant="ghost" aria-label={`Edit ${r.name}`} onClick={() => { setEditing(r); setOpen(true); }}>
                        <Pencil />
                      </Button>
                      <Button size="icon" variant="ghost" aria-label={`Delete ${r.name}`} onClick={() => setDeleting(r)}>
                        <Trash2 />
                      </Button>
                    </div>
                  )}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      <RuleEditor open={open} onOpenChange={setOpen} rule={editing} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete rule ${deleting?.name ?? ""}?`}
        description="Its alert history is deleted too."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => (deleting ? remove.mutateAsync(deleting.id) : undefined)}
      />
    </Card>
  );
}

// ---------------------------------------------------------------- channels

interface ChannelForm {
  name: string;
  type: ChannelIn["type"];
  url: string;
  secret: string;
  headers: string;
  host: string;
  port: string;
  tls: string;
  username: string;
  password: string;
  from: string;
  to: string;
  enabled: boolean;
}

function channelForm(c: ChannelOut | null): ChannelForm {
  const cfg = (c?.config ?? {}) as Record<string, unknown>;
  const s = (k: string, d = "") => (typeof cfg[k] === "string" ? (cfg[k] as string) : d);
  return {
    name: c?.name ?? "",
    type: c?.type ?? "webhook",
    url: s("url"),
    secret: "",
    headers: "",
    host: s("host"),
    port: cfg.port != null ? String(cfg.port) : "587",
    tls: s("tls", "starttls"),
    username: s("username"),
    password: "",
    from: s("from"),
    to: Array.isArray(cfg.to) ? cfg.to.join(", ") : "",
    enabled: c?.enabled ?? true,
  };
}

function channelBody(f: ChannelForm): ChannelIn {
  const config: Record<string, unknown> = {};
  if (f.type === "webhook") {
    config.url = f.url;
    if (f.secret) config.secret = f.secret;
    if (f.headers.trim()) {
      const headers: Record<string, string> = {};
      for (const line of f.headers.split("\n")) {
        const i = line.indexOf(":");
        if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      config.headers = headers;
    }
  } else if (f.type === "slack") {
    if (f.url) config.url = f.url;
  } else if (f.type === "email") {
    Object.assign(config, {
      host: f.host,
      port: Number(f.port) || 25,
      tls: f.tls,
      from: f.from,
      to: f.to.split(",").map((s) => s.trim()).filter(Boolean),
    });
    if (f.username) config.username = f.username;
    if (f.password) config.password = f.password;
  }
  return { name: f.name, type: f.type, config, enabled: f.enabled };
}

function ChannelEditor({ open, onOpenChange, channel }: { open: boolean; onOpenChange: (o: boolean) => void; channel: ChannelOut | null }) {
  const [form, setForm] = useState<ChannelForm>(channelForm(channel));
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  useEffect(() => {
    if (open) {
      setForm(channelForm(channel));
      setError(null);
    }
  }, [open, channel]);
  const set = <K extends keyof ChannelForm>(key: K, value: ChannelForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  const save = useMutation({
    mutationFn: () => (channel ? alertsApi.updateChannel(channel.id, channelBody(form)) : alertsApi.createChannel(channelBody(form))),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onSuccess: (saved) => {
      toast(channel ? `Saved ${saved.name}` : `Added ${saved.name}`);
      void qc.invalidateQueries({ queryKey: alertKeys.channels() });
      onOpenChange(false);
    },
    onError: (err) => setError(errorText(err)),
  });
  const kept = (field: string) => (channel?.secrets_set.includes(field) ? "stored — leave empty to keep" : "");
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="sm:max-w-lg" data-testid="channel-editor">
        <DialogHeader>
          <DialogTitle>{channel ? `Edit channel ${channel.name}` : "New channel"}</DialogTitle>
          <DialogDescription>Secrets are stored encrypted and never shown again.</DialogDescription>
        </DialogHeader>
        <form onSubmit={(e) => { e.preventDefault(); setError(null); save.mutate(); }}>
          <DialogBody className="space-y-3">
            <div className="grid gap-3 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor="channel-name">Name</Label>
                <Input id="channel-name" value={form.name} onChange={(e) => set("name", e.target.value)} required />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor="channel-type">Type</Label>
                <NativeSelect id="channel-type" value={form.type} onChange={(e) => set("type", e.target.value as ChannelForm["type"])}>
                  <option value="webhook">Webhook (JSON, HMAC)</option>
                  <option value="slack">Slack-compatible</option>
                  <option value="email">Email (SMTP)</option>
                  <option value="in_app">In-app only</option>
                </NativeSelect>
              </div>
            </div>
            {(form.type === "webhook" || form.type === "slack") && (
              <div className="space-y-1.5">
                <Label htmlFor="channel-url">{form.type === "slack" ? "Incoming webhook URL" : "URL"}</Label>
                <Input id="channel-url" value={form.url} placeholder={form.type === "slack" ? kept("url") || "https://hooks.slack.com/services/…" : "https://"} onChange={(e) => set("url", e.target.value)} />
              </div>
            )}
            {form.type === "webhook" && (
              <>
                <div className="space-y-1.5">
                  <Label htmlFor="channel-secret">Signing secret (X-Dockyard-Signature)</Label>
                  <Input id="channel-secret" type="password" autoComplete="new-password" value={form.secret} placeholder={kept("secret")} onChange={(e) => set("secret", e.target.value)} />
                </div>
                <div className="space-y-1.5">
                  <Label htmlFor="channel-headers">Extra headers (one "Name: value" per line)</Label>
                  <textarea id="channel-headers" className="min-h-16 w-full rounded-md border bg-card px-3 py-2 font-mono text-xs" value={form.headers} placeholder={kept("headers")} onChange={(e) => set("headers", e.target.value)} />
                </div>
              </>
            )}
            {form.type === "email" && (
              <div className="grid gap-3 sm:grid-cols-2">
                <div className="space-y-1.5"><Label htmlFor="channel-host">SMTP host</Label><Input id="channel-host" value={form.host} onChange={(e) => set("host", e.target.value)} /></div>
                <div className="space-y-1.5"><Label htmlFor="channel-port">Port</Label><Input id="channel-port" type="number" value={form.port} onChange={(e) => set("port", e.target.value)} /></div>
                <div className="space-y-1.5">
                  <Label htmlFor="channel-tls">TLS</Label>
                  <NativeSelect id="channel-tls" value={form.tls} onChange={(e) => set("tls", e.target.value)}>
                    <option value="starttls">STARTTLS</option><option value="tls">TLS</option><option value="none">None</option>
                  </NativeSelect>
                </div>
                <div className="space-y-1.5"><Label htmlFor="channel-from">From</Label><Input id="channel-from" value={form.from} onChange={(e) => set("from", e.target.value)} /></div>
                <div className="space-y-1.5 sm:col-span-2"><Label htmlFor="channel-to">To (comma separated)</Label><Input id="channel-to" value={form.to} onChange={(e) => set("to", e.target.value)} /></div>
                <div className="space-y-1.5"><Label htmlFor="channel-user">Username</Label><Input id="channel-user" value={form.username} onChange={(e) => set("username", e.target.value)} /></div>
                <div className="space-y-1.5"><Label htmlFor="channel-password">Password</Label><Input id="channel-password" type="password" autoComplete="new-password" value={form.password} placeholder={kept("password")} onChange={(e) => set("password", e.target.value)} /></div>
              </div>
            )}
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={form.enabled} onChange={(e) => set("enabled", e.target.checked)} /> Enabled
            </label>
            {error && <p className="text-sm text-destructive" role="alert">{error}</p>}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>Cancel</Button>
            <Button type="submit" disabled={save.isPending || !form.name.trim()} data-testid="channel-save">
              {save.isPending && <Loader2 className="animate-spin" />} {channel ? "Save" : "Add channel"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function TestButton({ channel }: { channel: ChannelOut }) {
  const [result, setResult] = useState<ChannelTestResult | null>(null);
  const test = useMutation({
    mutationFn: () => alertsApi.testChannel(channel.id),
    meta: { toast: () => false },
    onMutate: () => setResult(null),
    onSuccess: setResult,
    onError: (err) => setResult({ ok: false, error: errorText(err), latency_ms: 0 }),
  });
  return (
    <span className="inline-flex items-center gap-2">
      {result && (result.ok ? (
        <span className="inline-flex items-center gap-1 text-xs text-emerald-700 dark:text-emerald-300"><CheckCircle2 className="size-3.5" /> sent</span>
      ) : (
        <span className="inline-flex max-w-56 items-center gap-1 truncate text-xs text-destructive" title={result.error ?? ""}><XCircle className="size-3.5" /> {result.error}</span>
      ))}
      <Button size="sm" variant="outline" onClick={() => test.mutate()} disabled={test.isPending} data-testid={`channel-test-${channel.name}`}>
        {test.isPending ? <Loader2 className="animate-spin" /> : <Send />} Send test
      </Button>
    </span>
  );
}

function ChannelsTab() {
  const channels = useAlertChannels();
  const canManage = useCan("alerts:manage");
  const [editing, setEditing] = useState<ChannelOut | null>(null);
  const [open, setOpen] = useState(false);
  const [deleting, setDeleting] = useState<ChannelOut | null>(null);
  const qc = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: number) => alertsApi.deleteChannel(id),
    onSuccess: () => {
      toast("Channel deleted");
      setDeleting(null);
      void qc.invalidateQueries({ queryKey: alertKeys.all });
    },
  });
  return (
    <Card className="overflow-hidden">
      <div className="flex items-center justify-between border-b px-4 py-3">
        <p className="text-sm text-muted-foreground">Where notifications go.</p>
        {canManage && (
          <Button size="sm" onClick={() => { setEditing(null); setOpen(true); }} data-testid="channel-new">
            <Plus /> New channel
          </Button>
        )}
      </div>
      {channels.isPending ? (
        <div className="space-y-2 p-4">{Array.from({ length: 3 }, (_, i) => <Skeleton key={i} className="h-8 w-full" />)}</div>
      ) : channels.isError ? (
        <ErrorState error={channels.error} title="Couldn't load channels" onRetry={() => void channels.refetch()} />
      ) : channels.data.items.length === 0 ? (
        <p className="px-4 py-8 text-center text-sm text-muted-foreground">No channels yet.</p>
      ) : (
        <Table data-testid="channels-table">
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Type</TableHead>
              <TableHead>Target</TableHead>
              <TableHead>Secrets</TableHead>
              <TableHead />
            </TableRow>
          </TableHeader>
          <TableBody>
            {channels.data.items.map((c) => {
              const cfg = c.config as Record<string, unknown>;
              const target = c.type === "email" ? (Array.isArray(cfg.to) ? cfg.to.join(", ") : "") : typeof cfg.url === "string" ? cfg.url : c.type === "slack" ? "(stored)" : "—";
              return (
                <TableRow key={c.id} data-testid={`channel-row-${c.name}`}>
                  <TableCell className="font-medium">{c.name} {!c.enabled && <Badge>disabled</Badge>}</TableCell>
                  <TableCell><Badge tone="mono">{c.type}</Badge></TableCell>
                  <TableCell className="max-w-xs truncate text-sm" title={target}>{target}</TableCell>
                  <TableCell className="text-xs text-muted-foreground">{c.secrets_set.length ? c.secrets_set.join(", ") : "—"}</TableCell>
                  <TableCell className="text-right">
                    {canManage && (
                      <div className="flex items-center justify-end gap-1">
                        <TestButton channel={c} />
                        <Button size="icon" variant="ghost" aria-label={`Edit ${c.name}`} onClick={() => { setEditing(c); setOpen(true); }}><Pencil /></Button>
                        <Button size="icon" variant="ghost" aria-label={`Delete ${c.name}`} onClick={() => setDeleting(c)}><Trash2 /></Button>
                      </div>
                    )}
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
      <ChannelEditor open={open} onOpenChange={setOpen} channel={editing} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete channel ${deleting?.name ?? ""}?`}
        description="Rules stop notifying it."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => (deleting ? remove.mutateAsync(deleting.id) : undefined)}
      />
    </Card>
  );
}

export function AlertsPage() {
  usePageTitle("Alerts");
  const { tab } = useParams();
  const navigate = useNavigate();
  const canRead = useCan("alerts:read");
  const current: Tab = tab === "rules" || tab === "channels" ? tab : "alerts";
  if (!canRead) {
    return <EmptyState icon={BellRing} title="No access to alerts" description="Your role does not include alerts:read." />;
  }
  return (
    <div className="space-y-5">
      <PageHeader description="Rules that watch services, nodes, health checks, updates and jobs, and where their notifications go." />
      <Tabs value={current} onValueChange={(v) => void navigate(v === "alerts" ? "/alerts" : `/alerts/${v}`)}>
        <TabsList>
          <TabsTrigger value="alerts" data-testid="tab-alerts">Alerts</TabsTrigger>
          <TabsTrigger value="rules" data-testid="tab-rules">Rules</TabsTrigger>
          <TabsTrigger value="channels" data-testid="tab-channels">Channels</TabsTrigger>
        </TabsList>
        <TabsContent value="alerts"><AlertsTab /></TabsContent>
        <TabsContent value="rules"><RulesTab /></TabsContent>
        <TabsContent value="channels"><ChannelsTab /></TabsContent>
      </Tabs>
    </div>
  );
}
