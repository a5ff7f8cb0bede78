import { useMutation, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Loader2, MonitorSmartphone, Pencil, Plus, ScrollText, Search, ShieldCheck, Users } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { Link } from "react-router";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { useMe } from "@/api/queries";
import { useRoles, useUserSessions, useUsers, userKeys, usersApi, type UserOut } from "@/api/users";
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
import { formatRelative, formatUtc, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { hasPermission } from "@/lib/permissions";
import { UserAccessDialog } from "./users/UserAccessDialog";

const BUILTIN_ORDER = ["admin", "operator", "auditor", "viewer", "user"];

function RoleSelect({ value, onChange, id, testId }: { value: string; onChange: (v: string) => void; id: string; testId: string }) {
  const roles = useRoles();
  const names = roles.data?.items.map((r) => r.name) ?? BUILTIN_ORDER;
  return (
    <NativeSelect id={id} value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
      {names.map((n) => (
        <option key={n} value={n}>
          {n}
        </option>
      ))}
    </NativeSelect>
  );
}

function errorText(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

/** Create a user: email, display name, role, initial password. */
function CreateUserDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState("user");
  const [password, setPassword] = useState("");
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setEmail("");
    setDisplayName("");
    setRole("user");
    setPassword("");
    setFormError(null);
  }, [open]);

  const save = useMutation({
    mutationFn: () => usersApi.create({ email, password, role, display_name: displayName || null }),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Creating the user failed.")),
    onSuccess: (user) => {
      void queryClient.invalidateQueries({ queryKey: userKeys.all });
      void queryClient.invalidateQueries({ queryKey: ["roles"] });
      toast(`Created ${user.email}`);
      onOpenChange(false);
    },
  });

  return (
    <Dialog open={open} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="user-create-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>Add a user</DialogTitle>
            <DialogDescription>Share the password with them privately; they can sign in right away.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-email`}>Email</Label>
              <Input id={`${ids}-email`} type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="off" data-testid="user-email" />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-name`}>Display name</Label>
              <Input id={`${ids}-name`} value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={200} data-testid="user-display-name" />
            </div>
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-role`}>Role</Label>
                <RoleSelect id={`${ids}-role`} value={role} onChange={setRole} testId="user-role" />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-password`}>Password</Label>
                <Input
                  id={`${ids}-password`}
                  type="password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  required
                  autoComplete="new-password"
                  data-testid="user-password"
                />
              </div>
            </div>
            <p className="text-xs text-muted-foreground">
              <strong>user</strong> is a tenant: they see and manage only the services they create. See the Roles page for what each role may do.
            </p>
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="user-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending || !email || !password} data-testid="user-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              Add user
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

/** Edit role, active flag and display name; optionally set a new password. Revocations are explained. */
function EditUserDialog({ user, onOpenChange, isSelf }: { user: UserOut | null; onOpenChange: (o: boolean) => void; isSelf: boolean }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState("");
  const [active, setActive] = useState(true);
  const [password, setPassword] = useState("");
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (!user) return;
    setDisplayName(user.display_name ?? "");
    setRole(user.role);
    setActive(user.is_active);
    setPassword("");
    setFormError(null);
  }, [user]);

  const save = useMutation({
    mutationFn: () => {
      if (!user) throw new Error("no user");
      return usersApi.update(user.id, {
        display_name: displayName || null,
        ...(role !== user.role ? { role } : {}),
        ...(active !== user.is_active ? { is_active: active } : {}),
        ...(password ? { password } : {}),
      });
    },
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Saving failed.")),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: userKeys.all });
      void queryClient.invalidateQueries({ queryKey: ["roles"] });
      toast(`Saved ${saved.email}`);
      onOpenChange(false);
    },
  });

  const revokes = user !== null && (role !== user.role || (!active && user.is_active) || password !== "");
  return (
    <Dialog open={user !== null} onOpenChange={(o) => !save.isPending && onOpenChange(o)}>
      <DialogContent data-testid="user-edit-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!save.isPending) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>Edit {user?.email}</DialogTitle>
            <DialogDescription>Changing the role, disabling the account or setting a new password signs the user out everywhere.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-name`}>Display name</Label>
              <Input id={`${ids}-name`} value={displayName} onChange={(e) => setDisplayName(e.target.value)} maxLength={200} />
            </div>
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-role`}>Role</Label>
                <RoleSelect id={`${ids}-role`} value={role} onChange={setRole} testId="user-edit-role" />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-password`}>New password</Label>
                <Input
                  id={`${ids}-password`}
                  type="password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  autoComplete="new-password"
                  placeholder="unchanged"
                  data-testid="user-edit-password"
                />
              </div>
            </div>
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={active} onChange={(e) => setActive(e.target.checked)} data-testid="user-edit-active" />
              Active (may sign in)
            </label>
            {revokes && (
              <p className="text-sm text-amber-800 dark:text-amber-300" data-testid="user-edit-revoke-note">
                {isSelf ? "You will be signed out." : "The user's open sessions will end."}
              </p>
            )}
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="user-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={save.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={save.isPending} data-testid="user-edit-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              Save
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

/** A user's open login sessions. */
function SessionsDialog({ user, onOpenChange }: { user: UserOut | null; onOpenChange: (o: boolean) => void }) {
  const sessions = useUserSessions(user?.id ?? null);
  return (
    <Dialog open={user !== null} onOpenChange={onOpenChange}>
      <DialogContent data-testid="user-sessions-dialog">
        <DialogHeader>
          <DialogTitle>Sessions of {user?.email}</DialogTitle>
          <DialogDescription>Open sign-ins. Disable the account or change its role to end them all.</DialogDescription>
        </DialogHeader>
        <DialogBody>
          {sessions.isPending ? (
            <Skeleton className="h-16 w-full" />
          ) : sessions.isError ? (
            <p className="text-sm text-red-700 dark:text-red-300">Couldn't load the sessions.</p>
          ) : sessions.data.items.length === 0 ? (
            <p className="text-sm text-muted-foreground">No open sessions.</p>
          ) : (
            <ul className="divide-y divide-border text-sm">
              {sessions.data.items.map((s) => (
                <li key={s.id} className="py-2" data-testid="user-session">
                  <div className="font-medium">{orDash(s.user_agent)}</div>
                  <div className="text-xs text-muted-foreground">
                    {orDash(s.ip)} · signed in {formatRelative(s.created_at)} · last active <span title={formatUtc(s.last_used_at)}>{formatRelative(s.last_used_at)}</span>
                  </div>
                </li>
              ))}
            </ul>
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

export function UsersPage() {
  usePageTitle("Users");
  const me = useMe();
  const canManage = hasPermission(me.data?.permissions, "users:manage");
  const canAudit = hasPermission(me.data?.permissions, "audit:read");
  const [search, setSearch] = useState("");
  const users = useUsers(search.trim());
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<UserOut | null>(null);
  const [viewingSessions, setViewingSessions] = useState<UserOut | null>(null);
  const [viewingAccess, setViewingAccess] = useState<UserOut | null>(null);

  const add = canManage ? (
    <Button onClick={() => setCreating(true)} data-testid="user-add">
      <Plus /> Add user
    </Button>
  ) : undefined;

  let body;
  if (users.isError) {
    body = <ErrorState error={users.error} title="Couldn't load the users" onRetry={() => void users.refetch()} />;
  } else if (users.isPending) {
    body = (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 3 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  } else if (users.data.items.length === 0) {
    body = <EmptyState icon={Users} title={search ? "No matching users" : "No users yet"} description={search ? "Try another email or name." : "Add teammates and give them a role."} action={search ? undefined : add} />;
  } else {
    body = (
      <Card className="overflow-x-auto">
        <Table data-testid="users-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>User</TableHead>
              <TableHead>Role</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Last sign-in</TableHead>
              <TableHead>Created</TableHead>
              <TableHead className="w-40"><span className="sr-only">Actions</span></TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {users.data.items.map((u) => (
              <TableRow key={u.id} data-testid="user-row" data-email={u.email} data-role={u.role}>
                <TableCell>
                  <div className="font-medium">{u.display_name || u.email}</div>
                  {u.display_name && <div className="text-xs text-muted-foreground">{u.email}</div>}
                </TableCell>
                <TableCell>
                  <Badge tone={u.role === "admin" ? "accent" : "neutral"}>{u.role}</Badge>
                </TableCell>
                <TableCell>{u.is_active ? <Badge tone="success">active</Badge> : <Badge tone="danger">disabled</Badge>}</TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={u.last_login_at ? formatUtc(u.last_login_at) : undefined}>
                  {u.last_login_at ? formatRelative(u.last_login_at) : "never"}
                </TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(u.created_at)}>
                  {formatRelative(u.created_at)}
                </TableCell>
                <TableCell className="py-1.5">
                  <div className="flex justify-end gap-1">
                    <Button variant="ghost" size="icon" aria-label={`Access of ${u.email}`} title="Grants and quota" onClick={() => setViewingAccess(u)} data-testid="user-access">
                      <ShieldCheck />
                    </Button>
                    <Button variant="ghost" size="icon" aria-label={`Sessions of ${u.email}`} title="Sessions" onClick={() => setViewingSessions(u)} data-testid="user-sessions">
                      <MonitorSmartphone />
                    </Button>
                    {canAudit && (
                      <Button variant="ghost" size="icon" asChild aria-label={`Activity of ${u.email}`} title="Activity">
                        <Link to={`/audit?actor=${u.id}`} data-testid="user-activity">
                          <ScrollText />
                        </Link>
                      </Button>
                    )}
                    {canManage && (
                      <Button variant="ghost" size="icon" aria-label={`Edit ${u.email}`} title="Edit" onClick={() => setEditing(u)} data-testid="user-edit">
                        <Pencil />
                      </Button>
                    )}
                  </div>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Card>
    );
  }

  return (
    <div>
      <PageHeader
        description={
          <span className="flex items-center gap-2">
            <KeyRound className="size-4" /> People who can sign in, and what their role lets them do.
          </span>
        }
        actions={
          <>
            <div className="relative">
              <Search className="pointer-events-none absolute top-2.5 left-2.5 size-4 text-muted-foreground" />
              <Input value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Search email or name" className="w-64 pl-8" aria-label="Search users" data-testid="user-search" />
            </div>
            {add}
          </>
        }
      />
      {body}
      <CreateUserDialog open={creating} onOpenChange={setCreating} />
      <EditUserDialog user={editing} onOpenChange={(o) => !o && setEditing(null)} isSelf={editing?.id === me.data?.id} />
      <SessionsDialog user={viewingSessions} onOpenChange={(o) => !o && setViewingSessions(null)} />
      <UserAccessDialog user={viewingAccess} canManage={canManage} onOpenChange={(o) => !o && setViewingAccess(null)} />
    </div>
  );
}
