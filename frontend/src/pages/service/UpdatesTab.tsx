import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ArrowRight, CalendarClock, Loader2, Play, RefreshCcw, RotateCcw, Save } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { jobKeys, serviceKeys } from "@/api/serviceQueries";
import type { JobOut, ServiceDetail } from "@/api/types";
import { containerChanges, updateKeys, updatesApi, useUpdateHistory, useUpdatePolicy, type UpdateOut } from "@/api/updates";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { RelativeTime } from "@/components/services/ServiceBits";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox, ToggleButton } from "@/components/ui/checkbox";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { Tip } from "@/components/ui/tooltip";
import { jobStore, openJob } from "@/lib/jobStore";
import { activeJob } from "@/lib/serviceStatus";
import {
  WEEKDAYS,
  formFromPolicy,
  policyBody,
  serverErrors,
  shortDigest,
  timeZones,
  validatePolicy,
  type PolicyErrors,
  type PolicyForm,
  type Weekday,
} from "@/lib/updatePolicy";

const RESULT: Record<UpdateOut["result"], { label: string; tone: "success" | "danger" | "warning" | "accent" }> = {
  succeeded: { label: "succeeded", tone: "success" },
  rolled_back: { label: "rolled back", tone: "warning" },
  failed: { label: "failed", tone: "danger" },
  running: { label: "running", tone: "accent" },
};

const DAY_LABEL: Record<Weekday, string> = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

function announce(job: JobOut, serviceName: string, verb: string) {
  jobStore.watch({ id: job.id, verb, serviceName, serviceId: job.service_id });
  toast.loading(`${verb} ${serviceName}…`, {
    id: `job-${job.id}`,
    description: job.status === "queued" ? "Queued" : "Running",
    action: { label: "Details", onClick: () => openJob(job.id) },
    duration: Infinity,
  });
}

function Changes({ update }: { update: UpdateOut }) {
  const changed = containerChanges(update).filter(([, c]) => c.changed);
  if (changed.length === 0) return <span className="text-muted-foreground">no image changed</span>;
  return (
    <ul className="space-y-0.5">
      {changed.map(([name, c]) => (
        <li key={name} className="flex items-center gap-1.5 font-mono text-xs whitespace-nowrap">
          <span className="font-sans font-medium">{name}</span>
          <Tip content={c.from.digest ?? c.from.image_id ?? "no previous container"}>
            <span className="text-muted-foreground">{shortDigest(c.from.digest ?? c.from.image_id)}</span>
          </Tip>
          <ArrowRight className="size-3 text-muted-foreground" aria-label="to" />
          <Tip content={c.to.digest ?? c.to.image_id ?? ""}>
            <span>{shortDigest(c.to.digest ?? c.to.image_id)}</span>
          </Tip>
        </li>
      ))}
    </ul>
  );
}

function HistoryCard({ service }: { service: ServiceDetail }) {
  const history = useUpdateHistory(service.id);
  const queryClient = useQueryClient();
  const [target, setTarget] = useState<UpdateOut | null>(null);
  const running = activeJob(service)?.id ?? null;

  // A job on this service finished: the history may have a new row.
  useEffect(() => {
    void queryClient.invalidateQueries({ queryKey: updateKeys.history(service.id) });
  }, [running, queryClient, service.id]);

  const rollback = useMutation({
    mutationFn: (u: UpdateOut) => updatesApi.rollback(service.id, u.id),
    onSuccess: ({ job }) => {
      setTarget(null);
      announce(job, service.name, "Rolling back");
      void queryClient.invalidateQueries({ queryKey: serviceKeys.detail(service.id) });
      void queryClient.invalidateQueries({ queryKey: jobKeys.lists() });
    },
  });

  return (
    <Card>
      <CardHeader className="flex-row flex-wrap items-start justify-between gap-2">
        <div className="space-y-1">
          <CardTitle>Update history</CardTitle>
          <CardDescription>Each update records, per container, the image it ran before and after. A failed verification rolls back by itself.</CardDescription>
        </div>
        <Button variant="ghost" size="sm" onClick={() => void history.refetch()} aria-label="Refresh history">
          <RefreshCcw /> Refresh
        </Button>
      </CardHeader>
      <CardContent>
        {history.isPending ? (
          <Skeleton className="h-24 w-full" />
        ) : history.isError ? (
          <ErrorState error={history.error} title="Couldn't load the update history" onRetry={() => void history.refetch()} />
        ) : history.data.items.length === 0 ? (
          <EmptyState icon={CalendarClock} title="No updates yet" description="Run Update on this service, or set a policy below to check and update on a schedule." />
        ) : (
          <Table data-testid="update-history">
            <TableHeader>
              <TableRow>
                <TableHead>When</TableHead>
                <TableHead>Images (from → to)</TableHead>
                <TableHead>Result</TableHead>
                <TableHead>Reason</TableHead>
                <TableHead className="text-right">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {history.data.items.map((u) => (
                <TableRow key={u.id} data-testid="update-row" data-result={u.result}>
                  <TableCell className="align-top">
                    <RelativeTime iso={u.started_at} />
                    <p className="text-xs text-muted-foreground">
                      {u.kind === "rollback" ? "manual rollback" : u.triggered_by === "schedule" ? "scheduled" : (u.actor_label ?? "user")}
                    </p>
                  </TableCell>
                  <TableCell className="align-top">
                    <Changes update={u} />
                  </TableCell>
                  <TableCell className="align-top">
                    <div className="flex flex-wrap gap-1">
                      <Badge tone={RESULT[u.result].tone}>{RESULT[u.result].label}</Badge>
                      {u.rolled_back && u.result !== "rolled_back" && <Badge tone="neutral">rolled back</Badge>}
                    </div>
                  </TableCell>
                  <TableCell className="max-w-sm align-top text-sm break-words text-muted-foreground">{u.reason ?? "—"}</TableCell>
                  <TableCell className="text-right align-top">
                    {u.kind === "update" && u.result === "succeeded" && containerChanges(u).some(([, c]) => c.changed) && (
                      <Tip content={u.can_rollback ? "Return to the images this update replaced" : "The previous image is no longer on the node"}>
                        <span>
                          <Button variant="outline" size="sm" disabled={!u.can_rollback || running !== null} onClick={() => setTarget(u)} data-testid="rollback-button">
                            <RotateCcw /> Roll back
                          </Button>
                        </span>
                      </Tip>
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
      <ConfirmDialog
        open={target !== null}
        onOpenChange={(o) => !o && setTarget(null)}
        title={`Roll back ${service.name}?`}
        description={
          target && (
            <>
              The containers this update changed are recreated from their previous images (
              {containerChanges(target)
                .filter(([, c]) => c.changed)
                .map(([n, c]) => `${n} ${shortDigest(c.from.digest ?? c.from.image_id)}`)
                .join(", ")}
              ) and verified. The next update moves them forward again.
            </>
          )
        }
        confirmLabel="Roll back"
        destructive
        pending={rollback.isPending}
        onConfirm={() => {
          if (target) rollback.mutate(target);
        }}
      />
    </Card>
  );
}

/** "in 3 h", "in 2 days". */
function untilText(iso: string): string {
  const minutes = Math.max(0, Math.round((new Date(iso).getTime() - Date.now()) / 60_000));
  if (minutes < 60) return `in ${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `in ${hours} h`;
  return `in ${Math.round(hours / 24)} days`;
}

function FieldError({ errors, path }: { errors: PolicyErrors; path: string }) {
  const message = errors[path];
  if (!message) return null;
  return (
    <p className="text-xs text-red-700 dark:text-red-400" role="alert" data-testid={`error-${path}`}>
      {message}
    </p>
  );
}

function PolicyCard({ service }: { service: ServiceDetail }) {
  const policy = useUpdatePolicy(service.id);
  const queryClient = useQueryClient();
  const zones = useMemo(() => timeZones(), []);
  const [form, setForm] = useState<PolicyForm>(() => formFromPolicy(undefined));
  const [loadedAt, setLoadedAt] = useState<string | null>(null);
  const [serverErrs, setServerErrs] = useState<PolicyErrors>({});
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    const key = policy.data ? JSON.stringify(policy.data) : null;
    if (key && key !== loadedAt && !touched) {
      setForm(formFromPolicy(policy.data));
      setLoadedAt(key);
    }
  }, [policy.data, loadedAt, touched]);

  const errors = { ...validatePolicy(form, zones), ...serverErrs };
  const set = (patch: Partial<PolicyForm>) => {
    setForm((f) => ({ ...f, ...patch }));
    setTouched(true);
    setServerErrs({});
  };

  const save = useMutation({
    mutationFn: () => updatesApi.putPolicy(service.id, policyBody(form)),
    meta: { toast: (err: unknown) => !(isApiError(err) && err.status === 422) },
    onError: (err) => {
      if (isApiError(err) && err.status === 422) setServerErrs(serverErrors(err.details));
    },
    onSuccess: (data) => {
      queryClient.setQueryData(updateKeys.policy(service.id), data);
      setTouched(false);
      setLoadedAt(null);
      toast.success("Update policy saved");
    },
  });
  const runNow = useMutation({
    mutationFn: () => updatesApi.runNow(service.id),
    onSuccess: ({ job }) => {
      announce(job, service.name, form.mode === "auto" ? "Checking and updating" : "Checking");
      void queryClient.invalidateQueries({ queryKey: serviceKeys.detail(service.id) });
    },
  });

  if (policy.isPending) return <Skeleton className="h-64 w-full" />;
  if (policy.isError) return <ErrorState error={policy.error} title="Couldn't load the update policy" onRetry={() => void policy.refetch()} />;
  const nextRun = policy.data.next_run_at;
  const scheduled = form.mode !== "off";

  return (
    <Card data-testid="update-policy">
      <CardHeader>
        <CardTitle>Update policy</CardTitle>
        <CardDescription>
          Notify only detects new images (registry digests, never a pull). Auto also updates, verifies and rolls back by itself if the new version fails.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form
          className="space-y-5"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (Object.keys(validatePolicy(form, zones)).length === 0) save.mutate();
          }}
        >
          <div className="grid gap-4 sm:grid-cols-3">
            <div className="space-y-1.5">
              <Label htmlFor="policy-mode">Mode</Label>
              <NativeSelect id="policy-mode" value={form.mode} onChange={(e) => set({ mode: e.target.value as PolicyForm["mode"] })} data-testid="policy-mode">
                <option value="off">Off</option>
                <option value="notify">Notify (detect only)</option>
                <option value="auto">Auto (detect and update)</option>
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="policy-frequency">Frequency</Label>
              <NativeSelect id="policy-frequency" value={form.frequency} disabled={!scheduled} onChange={(e) => set({ frequency: e.target.value as PolicyForm["frequency"] })} data-testid="policy-frequency">
                <option value="daily">Daily</option>
                <option value="weekly">Weekly</option>
                <option value="cron">Cron expression</option>
              </NativeSelect>
            </div>
            {form.frequency === "cron" ? (
              <div className="space-y-1.5">
                <Label htmlFor="policy-cron">Cron</Label>
                <Input id="policy-cron" className="font-mono" placeholder="30 4 * * 1-5" value={form.cron} disabled={!scheduled} onChange={(e) => set({ cron: e.target.value })} aria-invalid={!!errors["schedule.cron"]} data-testid="policy-cron" />
                <FieldError errors={errors} path="schedule.cron" />
              </div>
            ) : (
              <div className="space-y-1.5">
                <Label htmlFor="policy-time">Time</Label>
                <Input id="policy-time" type="time" value={form.time} disabled={!scheduled} onChange={(e) => set({ time: e.target.value })} aria-invalid={!!errors["schedule.time"]} data-testid="policy-time" />
                <FieldError errors={errors} path="schedule.time" />
              </div>
            )}
          </div>
          {form.frequency === "weekly" && (
            <fieldset className="space-y-1.5" disabled={!scheduled}>
              <legend className="text-xs font-medium text-foreground/90">Weekdays</legend>
              <div className="flex flex-wrap gap-1.5">
                {WEEKDAYS.map((d) => (
                  <ToggleButton
                    key={d}
                    pressed={form.weekdays.includes(d)}
                    onPressedChange={(on) => set({ weekdays: on ? [...form.weekdays, d] : form.weekdays.filter((x) => x !== d) })}
                    aria-label={DAY_LABEL[d]}
                    data-testid={`weekday-${d}`}
                  >
                    {DAY_LABEL[d]}
                  </ToggleButton>
                ))}
              </div>
              <FieldError errors={errors} path="schedule.weekdays" />
            </fieldset>
          )}
          <div className="grid gap-4 sm:grid-cols-3">
            <div className="space-y-1.5">
              <Label htmlFor="policy-timezone">Time zone</Label>
              <NativeSelect id="policy-timezone" value={form.timezone} disabled={!scheduled} onChange={(e) => set({ timezone: e.target.value })} data-testid="policy-timezone">
                {(zones.includes(form.timezone) ? zones : [form.timezone, ...zones]).map((z) => (
                  <option key={z} value={z}>
                    {z}
                  </option>
                ))}
              </NativeSelect>
              <FieldError errors={errors} path="schedule.timezone" />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="policy-timeout">Healthy within (s)</Label>
              <Input id="policy-timeout" inputMode="numeric" value={form.timeoutS} onChange={(e) => set({ timeoutS: e.target.value })} aria-invalid={!!errors["verify.timeout_s"]} data-testid="policy-timeout" />
              <FieldError errors={errors} path="verify.timeout_s" />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="policy-settle">Settle without healthcheck (s)</Label>
              <Input id="policy-settle" inputMode="numeric" value={form.settleS} onChange={(e) => set({ settleS: e.target.value })} aria-invalid={!!errors["verify.settle_s"]} data-testid="policy-settle" />
              <FieldError errors={errors} path="verify.settle_s" />
            </div>
          </div>
          <div className="space-y-2">
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={form.removeOldImages} onChange={(e) => set({ removeOldImages: e.target.checked })} data-testid="policy-remove-old" />
              Remove the previous images after a verified update (a manual rollback is then impossible)
            </label>
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={form.windowEnabled} disabled={!scheduled} onChange={(e) => set({ windowEnabled: e.target.checked })} data-testid="policy-window" />
              Only run inside a maintenance window
            </label>
            {form.windowEnabled && scheduled && (
              <div className="flex flex-wrap items-center gap-2 pl-6 text-sm">
                <Input type="time" aria-label="Window start" className="w-32" value={form.windowStart} onChange={(e) => set({ windowStart: e.target.value })} />
                <span className="text-muted-foreground">to</span>
                <Input type="time" aria-label="Window end" className="w-32" value={form.windowEnd} onChange={(e) => set({ windowEnd: e.target.value })} />
                <FieldError errors={errors} path="maintenance_window.start" />
                <FieldError errors={errors} path="maintenance_window.end" />
              </div>
            )}
          </div>
          <div className="flex flex-wrap items-center justify-between gap-3 border-t pt-4">
            <p className="text-sm text-muted-foreground" data-testid="policy-next-run">
              {!scheduled ? (
                "No scheduled checks."
              ) : nextRun && !touched ? (
                <>
                  Next run{" "}
                  <time dateTime={nextRun} className="font-medium text-foreground">
                    {new Date(nextRun).toLocaleString(undefined, { timeZone: form.timezone, weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })}
                  </time>{" "}
                  {form.timezone} ({untilText(nextRun)})
                </>
              ) : (
                "Save to schedule the next run."
              )}
            </p>
            <div className="flex gap-2">
              <Button type="button" variant="outline" onClick={() => runNow.mutate()} disabled={runNow.isPending || !!activeJob(service)} data-testid="policy-run-now">
                {runNow.isPending ? <Loader2 className="animate-spin" /> : <Play />} Run now
              </Button>
              <Button type="submit" disabled={save.isPending || !touched || Object.keys(errors).length > 0} data-testid="policy-save">
                {save.isPending ? <Loader2 className="animate-spin" /> : <Save />} Save policy
              </Button>
            </div>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}

export function UpdatesTab({ service }: { service: ServiceDetail }) {
  return (
    <div className="grid gap-5">
      <HistoryCard service={service} />
      <PolicyCard service={service} />
    </div>
  );
}
