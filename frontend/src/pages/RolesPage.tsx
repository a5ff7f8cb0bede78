import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Info, Loader2, Lock, Pencil, Plus, ShieldCheck, Smartphone, Trash2 } from "lucide-react";
import { useEffect, useId, useMemo, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useMe } from "@/api/queries";
import { roleKeys, rolesApi, usePermissionCatalog, useRoles, type RoleOut } from "@/api/users";
import { ConfirmDialog } from "@/components/ConfirmDialog";
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
import { Textarea } from "@/components/ui/textarea";
import { usePageTitle } from "@/lib/pageTitle";
import { hasPermission } from "@/lib/permissions";

const ROLE_DESCRIPTIONS: Record<string, string> = {
  admin: "Everything, including users, roles and settings.",
  operator: "Manages services, nodes, images, registries and hosts.",
  auditor: "Reads everything, including the audit log and its exports.",
  viewer: "Read-only basics: services, nodes, images and jobs.",
  user: "A tenant: creates and manages only their own services.",
};

/** Checkboxes grouped by resource; `inherited` ones are shown checked and locked. */
function PermissionPicker({ selected, inherited, onChange }: { selected: Set<string>; inherited: Set<string>; onChange: (next: Set<string>) => void }) {
  const catalog = usePermissionCatalog();
  if (catalog.isPending) return <Skeleton className="h-40 w-full" />;
  if (catalog.isError) return <p className="text-sm text-red-700 dark:text-red-300">Couldn't load the permissions.</p>;
  const toggle = (perm: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(perm);
    else next.delete(perm);
    onChange(next);
  };
  return (
    <div className="grid gap-3 sm:grid-cols-2" data-testid="permission-picker">
      {catalog.data.groups.map((group) => (
        <fieldset key={group.resource} className="rounded-md border border-border p-2.5">
          <legend className="px-1 text-xs font-medium tracking-wide text-muted-foreground uppercase">{group.resource}</legend>
          <div className="flex flex-wrap gap-x-4 gap-y-1.5">
            {group.permissions.map((perm) => {
              const fromParent = inherited.has(perm);
              return (
                <label key={perm} className="flex items-center gap-1.5 text-sm" title={fromParent ? "Inherited from the parent role" : perm}>
                  <Checkbox
                    checked={fromParent || selected.has(perm)}
                    disabled={fromParent}
                    onChange={(e) => toggle(perm, e.target.checked)}
                    data-testid={`perm-${perm}`}
                  />
                  {perm.slice(perm.indexOf(":") + 1)}
                </label>
              );
            })}
          </div>
        </fieldset>
      ))}
    </div>
  );
}

function RoleDialog({ open, role, roles, onOpenChange }: { open: boolean; role: RoleOut | null; roles: RoleOut[]; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [parent, setParent] = useState("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setName(role?.name ?? "");
    setDescription(role?.description ?? "");
    setParent(role?.parent ?? "");
    setSelected(new Set(role?.permissions ?? []));
    setFormError(null);
  }, [open, role]);

  const inherited = useMemo(() => new Set(roles.find((r) => r.name === parent)?.effective_permissions ?? []), [roles, parent]);
  const save = useMutation({
    mutationFn: () => {
      const permissions = [...selected].filter((p) => !inherited.has(p)).sort();
      return role
        ? rolesApi.update(role.name, { description, parent: parent || null, permissions })
        : rolesApi.create({ name, description, parent: parent || null, permissions });
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(isApiError(err) ? err.message : "Saving failed."),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: roleKeys.all });
      void queryClient.invalidateQueries({ queryKey: ["auth", "me"] });
      toast(role ? `Saved ${saved.name}` : `Created ${saved.name}`);
      onOpenChange(false);
    },
  });

  const parents = roles.filter((r) => r.name !== role?.name);
  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent className="sm:max-w-2xl" data-testid="role-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{role ? `Edit ${role.name}` : "Create a role"}</DialogTitle>
            <DialogDescription>A role is a set of permissions, plus everything its parent role has. Roles inheriting from “user” act only on their own services.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-name`}>Name</Label>
                <Input
                  id={`${ids}-name`}
                  value={name}
                  onChange={(e) => setName(e.target.value.toLowerCase())}
                  disabled={role !== null}
                  required
                  pattern="[a-z][a-z0-9_\-]{1,63}"
                  title="Lower-case letters, digits, - and _; starts with a letter"
                  className="font-mono"
                  data-testid="role-name"
                />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-parent`}>Inherits from</Label>
                <NativeSelect id={`${ids}-parent`} value={parent} onChange={(e) => setParent(e.target.value)} data-testid="role-parent">
                  <option value="">(nothing)</option>
                  {parents.map((r) => (
                    <option key={r.name} value={r.name}>
                      {r.name}
                    </option>
                  ))}
                </NativeSelect>
              </div>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-description`}>Description</Label>
              <Textarea id={`${ids}-description`} value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} rows={2} />
            </div>
            <div className="space-y-1.5">
              <Label>Permissions</Label>
              <PermissionPicker selected={selected} inherited={inherited} onChange={setSelected} />
            </div>
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="role-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending || !name} data-testid="role-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              {role ? "Save" : "Create role"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function RoleCard({ role, canManage, onEdit, onDelete }: { role: RoleOut; canManage: boolean; onEdit: () => void; onDelete: () => void }) {
  const groups = useMemo(() => {
    const byResource = new Map<string, string[]>();
    for (const p of role.effective_permissions) {
      const resource = p.slice(0, p.indexOf(":"));
      const action = p.slice(p.indexOf(":") + 1);
      byResource.set(resource, [...(byResource.get(resource) ?? []), action]);
    }
    return [...byResource.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [role.effective_permissions]);
  return (
    <Card className="p-4" data-testid="role-card" data-role={role.name}>
      <div className="flex items-start justify-between gap-3">
        <div>
          <div className="flex flex-wrap items-center gap-2">
            <h3 className="font-mono text-sm font-semibold">{role.name}</h3>
            {role.builtin ? (
              <Badge>
                <Lock className="size-3" /> built-in
              </Badge>
            ) : (
              <Badge tone="accent">custom</Badge>
            )}
            {role.tenant && <Badge tone="warning">own services only</Badge>}
            {role.parent && <Badge tone="mono">inherits {role.parent}</Badge>}
            {role.mfa_required && (
              <Badge tone="success" title="Set by DOCKYARD_MFA_REQUIRED_ROLES" data-testid="role-mfa-required">
                <Smartphone className="size-3" /> MFA required
              </Badge>
            )}
          </div>
          <p className="mt-1 text-sm text-muted-foreground">{role.description || ROLE_DESCRIPTIONS[role.name] || "—"}</p>
        </div>
        <div className="flex shrink-0 items-center gap-1">
          <span className="mr-2 text-xs text-muted-foreground">
            {role.users} {role.users === 1 ? "user" : "users"}
          </span>
          {canManage && !role.builtin && (
            <>
              <Button variant="ghost" size="icon" aria-label={`Edit ${role.name}`} onClick={onEdit} data-testid="role-edit">
                <Pencil />
              </Button>
              <Button variant="ghost" size="icon" aria-label={`Delete ${role.name}`} onClick={onDelete} data-testid="role-delete">
                <Trash2 />
              </Button>
            </>
          )}
        </div>
      </div>
      <div className="mt-3 flex flex-wrap gap-1.5">
        {groups.map(([resource, actions]) => (
          <Badge key={resource} tone="mono" title={actions.map((a) => `${resource}:${a}`).join(", ")}>
            {resource}: {actions.join(", ")}
          </Badge>
        ))}
        {groups.length === 0 && <span className="text-xs text-muted-foreground">No permissions.</span>}
      </div>
    </Card>
  );
}

export function RolesPage() {
  usePageTitle("Roles");
  const me = useMe();
  const canManage = hasPermission(me.data?.permissions, "roles:manage");
  const roles = useRoles();
  const queryClient = useQueryClient();
  const [dialogOpen, setDialogOpen] = useState(false);
  const [editing, setEditing] = useState<RoleOut | null>(null);
  const [deleting, setDeleting] = useState<RoleOut | null>(null);
  const remove = useMutation({
    mutationFn: (name: string) => rolesApi.remove(name),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: roleKeys.all });
      toast(`Deleted ${deleting?.name ?? "the role"}`);
      setDeleting(null);
    },
  });

  const open = (r: RoleOut | null) => {
    setEditing(r);
    setDialogOpen(true);
  };

  let body;
  if (roles.isError) {
    body = <ErrorState error={roles.error} title="Couldn't load the roles" onRetry={() => void roles.refetch()} />;
  } else if (roles.isPending) {
    body = (
      <div className="space-y-3">
        {Array.from({ length: 4 }, (_, i) => (
          <Skeleton key={i} className="h-24 w-full" />
        ))}
      </div>
    );
  } else {
    const mfaRoles = roles.data.items.filter((r) => r.mfa_required).map((r) => r.name);
    body = (
      <div className="space-y-3" data-testid="roles-list">
        <div className="flex gap-2 rounded-md border bg-muted/40 px-3 py-2.5 text-sm" data-testid="roles-mfa-note">
          <Info className="mt-0.5 size-4 shrink-0 text-muted-foreground" />
          <p>
            <span className="font-medium">Two-factor authentication required for: </span>
            {mfaRoles.length ? mfaRoles.map((n) => <Badge key={n} tone="mono" className="mr-1">{n}</Badge>) : <span className="text-muted-foreground">no role. </span>}
            <span className="text-muted-foreground">
              {" "}
              This is a server setting, <code className="font-mono text-xs">DOCKYARD_MFA_REQUIRED_ROLES</code> (e.g. <code className="font-mono text-xs">admin,operator</code>), read at start: change it in the server's environment and restart. Users of these roles must set up MFA on their Account page before they can use anything else.
            </span>
          </p>
        </div>
        {roles.data.items.map((r) => (
          <RoleCard key={r.name} role={r} canManage={canManage} onEdit={() => open(r)} onDelete={() => setDeleting(r)} />
        ))}
      </div>
    );
  }

  return (
    <div>
      <PageHeader
        description={
          <span className="flex items-center gap-2">
            <ShieldCheck className="size-4" /> Built-in roles, and custom roles built from permissions.
          </span>
        }
        actions={
          canManage ? (
            <Button onClick={() => open(null)} data-testid="role-add">
              <Plus /> Create role
            </Button>
          ) : undefined
        }
      />
      {body}
      <RoleDialog open={dialogOpen} role={editing} roles={roles.data?.items ?? []} onOpenChange={setDialogOpen} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description="A role that users, grants or other roles still use cannot be deleted."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => {
          if (deleting) remove.mutate(deleting.name);
        }}
      />
    </div>
  );
}
