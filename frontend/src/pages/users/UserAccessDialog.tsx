import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Gauge, KeyRound, Loader2, Plus, RotateCcw, Trash2 } from "lucide-react";
import { useEffect, useId, useMemo, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useNodes } from "@/api/queries";
import { useServices } from "@/api/serviceQueries";
import { useRoles, useUserGrants, useUserQuota, userKeys, usersApi, type QuotaOut, type UserOut } from "@/api/users";
import { QuotaUsage } from "@/components/QuotaUsage";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { formatRelative, formatUtc } from "@/lib/format";
import { GRANT_SCOPES, grantBody, grantScopeText, type ScopeType } from "@/lib/grants";
import { QUOTA_FIELDS, defaultsText, formFromOwn, quotaUpdateFromForm, type QuotaForm, type QuotaFormErrors } from "@/lib/quota";

function errorText(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

const quiet = { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409 || err.status === 404)) };

/** The user's scoped grants: list, add (role + scope + target), remove. */
function GrantsSection({ user, canManage }: { user: UserOut; canManage: boolean }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const grants = useUserGrants(user.id);
  const roles = useRoles();
  const nodes = useNodes();
  const services = useServices("", false);
  const [role, setRole] = useState("viewer");
  const [scopeType, setScopeType] = useState<ScopeType>("service");
  const [target, setTarget] = useState("");
  const [formError, setFormError] = useState<string | null>(null);

  const targets = useMemo(() => {
    if (scopeType === "node") return (nodes.data?.items ?? []).map((n) => ({ id: n.id, label: n.name }));
    if (scopeType === "service") {
      const nodeName = new Map((nodes.data?.items ?? []).map((n) => [n.id, n.name]));
      return (services.data?.items ?? [])
        .map((s) => ({ id: s.id, label: `${s.name} (${nodeName.get(s.node_id) ?? `node ${s.node_id}`})` }))
        .sort((a, b) => a.label.localeCompare(b.label));
    }
    return [];
  }, [scopeType, nodes.data, services.data]);
  const targetsLoading = (scopeType === "node" && nodes.isPending) || (scopeType === "service" && services.isPending);

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: userKeys.grants(user.id) });
    void queryClient.invalidateQueries({ queryKey: ["roles"] });
  };
  const add = useMutation({
    mutationFn: () => {
      const built = grantBody(role, scopeType, target);
      if ("error" in built) throw new Error(built.error);
      return usersApi.addGrant(user.id, built.body);
    },
    meta: quiet,
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(err instanceof Error ? err.message : "Adding the grant failed."),
    onSuccess: (g) => {
      refresh();
      setTarget("");
      toast(`Granted ${g.role} on ${grantScopeText(g)}`);
    },
  });
  const remove = useMutation({
    mutationFn: (grantId: number) => usersApi.removeGrant(user.id, grantId),
    onSuccess: () => {
      refresh();
      toast("Grant removed");
    },
  });

  return (
    <div className="space-y-4">
      <p className="text-sm text-muted-foreground">
        Beyond their own role (<Badge tone="mono">{user.role}</Badge>), a grant gives the user a role on one node, one service, or everything. The user's open sessions pick it up at once.
      </p>
      {grants.isPending ? (
        <Skeleton className="h-16 w-full" />
      ) : grants.isError ? (
        <p className="text-sm text-red-700 dark:text-red-300">Couldn't load the grants.</p>
      ) : grants.data.items.length === 0 ? (
        <p className="rounded-md border border-dashed px-3 py-4 text-center text-sm text-muted-foreground" data-testid="grants-empty">
          No grants: the user has only their own role.
        </p>
      ) : (
        <ul className="divide-y divide-border rounded-md border" data-testid="grants-list">
          {grants.data.items.map((g) => (
            <li key={g.id} className="flex items-center gap-3 px-3 py-2 text-sm" data-testid="grant-row" data-role={g.role} data-scope={g.scope_type}>
              <Badge tone="accent">{g.role}</Badge>
              <span className="min-w-0 flex-1 truncate">
                on <span className="font-medium">{grantScopeText(g)}</span>
              </span>
              <span className="text-xs whitespace-nowrap text-muted-foreground" title={formatUtc(g.created_at)}>
                {formatRelative(g.created_at)}
              </span>
              {canManage && (
                <Button
                  variant="ghost"
                  size="icon"
                  aria-label={`Remove ${g.role} on ${grantScopeText(g)}`}
                  title="Remove"
                  disabled={remove.isPending}
                  onClick={() => remove.mutate(g.id)}
                  data-testid="grant-remove"
                >
                  <Trash2 />
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {canManage && (
        <form
          className="space-y-3 rounded-md border bg-muted/30 p-3"
          onSubmit={(e) => {
            e.preventDefault();
            if (!add.isPending) add.mutate();
          }}
          data-testid="grant-form"
        >
          <div className="grid gap-3 sm:grid-cols-3">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-role`}>Role</Label>
              <NativeSelect id={`${ids}-role`} value={role} onChange={(e) => setRole(e.target.value)} data-testid="grant-role">
                {(roles.data?.items ?? []).map((r) => (
                  <option key={r.name} value={r.name}>
                    {r.name}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-scope`}>On</Label>
              <NativeSelect
                id={`${ids}-scope`}
                value={scopeType}
                onChange={(e) => {
                  setScopeType(e.target.value as ScopeType);
                  setTarget("");
                  setFormError(null);
                }}
                data-testid="grant-scope-type"
              >
                {GRANT_SCOPES.map((s) => (
                  <option key={s.value} value={s.value}>
                    {s.label}
                  </option>
                ))}
              </NativeSelect>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-target`}>{scopeType === "node" ? "Node" : scopeType === "service" ? "Service" : "Target"}</Label>
              <NativeSelect
                id={`${ids}-target`}
                value={target}
                onChange={(e) => setTarget(e.target.value)}
                disabled={scopeType === "global" || targetsLoading}
                data-testid="grant-target"
              >
                <option value="">{scopeType === "global" ? "everything" : targetsLoading ? "Loading…" : targets.length ? `Choose a ${scopeType}` : `No ${scopeType}s`}</option>
                {targets.map((t) => (
                  <option key={t.id} value={String(t.id)}>
                    {t.label}
                  </option>
                ))}
              </NativeSelect>
            </div>
          </div>
          {scopeType === "global" && (
            <p className="text-xs text-amber-800 dark:text-amber-300">A global grant of a non-tenant role lets the user see every service.</p>
          )}
          {formError && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="grant-form-error">
              {formError}
            </p>
          )}
          <div className="flex justify-end">
            <Button type="submit" size="sm" disabled={add.isPending || (scopeType !== "global" && !target)} data-testid="grant-add">
              {add.isPending ? <Loader2 className="animate-spin" /> : <Plus />}
              Add grant
            </Button>
          </div>
        </form>
      )}
    </div>
  );
}

/** Usage against the limits, and the editor of the user's own values (empty = default). */
function QuotaSection({ user, quota, canManage }: { user: UserOut; quota: QuotaOut; canManage: boolean }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [form, setForm] = useState<QuotaForm>(() => formFromOwn(quota.own));
  const [errors, setErrors] = useState<QuotaFormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  useEffect(() => {
    setForm(formFromOwn(quota.own));
    setErrors({});
  }, [quota.own]);
  const placeholders = defaultsText(quota.defaults);

  const save = useMutation({
    mutationFn: (body: Parameters<typeof usersApi.setQuota>[1]) => usersApi.setQuota(user.id, body),
    meta: quiet,
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Saving the quota failed.")),
    onSuccess: (saved) => {
      queryClient.setQueryData(userKeys.quota(user.id), saved);
      toast(saved.custom ? `Saved the quota of ${user.email}` : `${user.email} now has the default quota`);
    },
  });
  const submit = (reset: boolean) => {
    if (reset) {
      save.mutate({});
      return;
    }
    const { body, errors: found } = quotaUpdateFromForm(form);
    setErrors(found);
    if (Object.keys(found).length === 0) save.mutate(body);
  };

  return (
    <div className="space-y-5">
      <div>
        <h4 className="mb-2 flex items-center gap-2 text-sm font-semibold">
          In use {quota.custom ? <Badge tone="accent">own quota</Badge> : <Badge>default quota</Badge>}
        </h4>
        <QuotaUsage quota={quota} />
      </div>
      {canManage && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) submit(false);
          }}
          className="space-y-3"
          data-testid="quota-form"
        >
          <p className="text-xs text-muted-foreground">Leave a field empty to use the server default. Admins and holders of services:privileged are not bound by quotas.</p>
          <div className="grid gap-3 sm:grid-cols-2">
            {QUOTA_FIELDS.map((f) => (
              <div key={f.key} className="space-y-1">
                <Label htmlFor={`${ids}-${f.key}`}>
                  {f.label}
                  {f.unit && <span className="font-normal text-muted-foreground"> ({f.unit})</span>}
                </Label>
                <Input
                  id={`${ids}-${f.key}`}
                  inputMode="decimal"
                  value={form[f.key]}
                  placeholder={placeholders[f.key]}
                  onChange={(e) => setForm({ ...form, [f.key]: e.target.value })}
                  aria-invalid={errors[f.key] ? true : undefined}
                  data-testid={`quota-${f.key}`}
                />
                {errors[f.key] && <p className="text-xs text-red-700 dark:text-red-300">{errors[f.key]}</p>}
              </div>
            ))}
          </div>
          {formError && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="quota-form-error">
              {formError}
            </p>
          )}
          <div className="flex flex-wrap justify-end gap-2">
            <Button type="button" variant="outline" size="sm" disabled={save.isPending || !quota.custom} onClick={() => submit(true)} data-testid="quota-reset">
              <RotateCcw /> Use defaults
            </Button>
            <Button type="submit" size="sm" disabled={save.isPending} data-testid="quota-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              Save quota
            </Button>
          </div>
        </form>
      )}
    </div>
  );
}

function QuotaTab({ user, canManage }: { user: UserOut; canManage: boolean }) {
  const quota = useUserQuota(user.id);
  if (quota.isPending) return <Skeleton className="h-40 w-full" />;
  if (quota.isError) return <p className="text-sm text-red-700 dark:text-red-300">Couldn't load the quota.</p>;
  return <QuotaSection user={user} quota={quota.data} canManage={canManage} />;
}

/** A user's access: scoped grants and quota. */
export function UserAccessDialog({ user, canManage, onOpenChange }: { user: UserOut | null; canManage: boolean; onOpenChange: (o: boolean) => void }) {
  const [tab, setTab] = useState("grants");
  useEffect(() => {
    if (user) setTab("grants");
  }, [user]);
  return (
    <Dialog open={user !== null} onOpenChange={onOpenChange}>
      <DialogContent className="sm:max-w-2xl" data-testid="user-access-dialog">
        <DialogHeader>
          <DialogTitle>Access of {user?.display_name || user?.email}</DialogTitle>
          <DialogDescription>Roles granted on nodes and services, and the resources the user's services may take.</DialogDescription>
        </DialogHeader>
        <DialogBody>
          {user && (
            <Tabs value={tab} onValueChange={setTab}>
              <TabsList className="mb-4">
                <TabsTrigger value="grants" data-testid="access-tab-grants">
                  <KeyRound /> Grants
                </TabsTrigger>
                {canManage && (
                  <TabsTrigger value="quota" data-testid="access-tab-quota">
                    <Gauge /> Quota
                  </TabsTrigger>
                )}
              </TabsList>
              <TabsContent value="grants">
                <GrantsSection user={user} canManage={canManage} />
              </TabsContent>
              {canManage && (
                <TabsContent value="quota">
                  <QuotaTab user={user} canManage={canManage} />
                </TabsContent>
              )}
            </Tabs>
          )}
        </DialogBody>
        <DialogFooter>
          <Button variant="outline" onClick={() => onOpenChange(false)}>
            Close
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
