import { useMutation, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, KeyRound, Loader2, Pencil, PlugZap, Plus, Trash2, XCircle } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { registriesApi, registryKeys, useRegistries, type RegistryOut, type RegistryTestResult } from "@/api/registries";
import { ConfirmDialog } from "@/components/ConfirmDialog";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatRelative, formatUtc, orDash } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";
import { useListEditing } from "@/lib/useListEditing";

interface TestOutcome {
  ok: boolean;
  message: string;
}

function outcomeOf(result: RegistryTestResult): TestOutcome {
  return { ok: result.ok, message: `${result.message} (${Math.round(result.elapsed_ms)} ms)` };
}

function outcomeOfError(err: unknown): TestOutcome {
  return { ok: false, message: isApiError(err) ? err.message : "The test failed." };
}

function TestResult({ outcome }: { outcome: TestOutcome | null }) {
  if (!outcome) return null;
  return (
    <p
      role="status"
      data-testid="registry-test-result"
      data-ok={outcome.ok}
      className={outcome.ok ? "flex items-center gap-1.5 text-sm text-emerald-700 dark:text-emerald-300" : "flex items-center gap-1.5 text-sm text-red-700 dark:text-red-300"}
    >
      {outcome.ok ? <CheckCircle2 className="size-4 shrink-0" /> : <XCircle className="size-4 shrink-0" />}
      {outcome.message}
    </p>
  );
}

/** Add or edit a registry. The password is write-only: empty keeps the stored one. */
function RegistryDialog({ open, onOpenChange, registry }: { open: boolean; onOpenChange: (o: boolean) => void; registry: RegistryOut | null }) {
  const queryClient = useQueryClient();
  const ids = useId();
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [insecure, setInsecure] = useState(false);
  const [outcome, setOutcome] = useState<TestOutcome | null>(null);
  const [formError, setFormError] = useState<string | null>(null);

  useEffect(() => {
    if (!open) return;
    setName(registry?.name ?? "");
    setUrl(registry?.url ?? "");
    setUsername(registry?.username ?? "");
    setPassword("");
    setInsecure(registry?.insecure ?? false);
    setOutcome(null);
    setFormError(null);
  }, [open, registry]);

  const test = useMutation({
    mutationFn: () =>
      registry && !password && url === registry.url && (username || null) === registry.username
        ? registriesApi.test(registry.id)
        : registriesApi.tryCredentials({ url, username: username || null, password: password || null, insecure }),
    meta: { toast: () => false },
    onMutate: () => setOutcome(null),
    onSuccess: (r) => setOutcome(outcomeOf(r)),
    onError: (err) => setOutcome(outcomeOfError(err)),
  });

  const save = useMutation({
    mutationFn: () =>
      registry
        ? registriesApi.update(registry.id, {
            name,
            url,
            username: username || null,
            insecure,
            ...(password ? { password } : {}),
          })
        : registriesApi.create({ name, url, username: username || null, password: password || null, insecure, verify: false }),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(isApiError(err) ? err.message : "Saving failed."),
    onSuccess: (saved) => {
      void queryClient.invalidateQueries({ queryKey: registryKeys.all });
      toast(registry ? `Saved ${saved.name}` : `Added ${saved.name}`);
      onOpenChange(false);
    },
  });

  const busy = save.isPending || test.isPending;
  return (
    <Dialog open={open} onOpenChange={(o) => !busy && onOpenChange(o)}>
      <DialogContent data-testid="registry-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!busy) save.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>{registry ? `Edit ${registry.name}` : "Add a registry"}</DialogTitle>
            <DialogDescription>
              Credentials are used to pull images and to check them for updates. The password is stored encrypted and never shown again.
            </DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-name`}>Name</Label>
              <Input id={`${ids}-name`} value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} data-testid="registry-name" />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-url`}>Registry</Label>
              <Input
                id={`${ids}-url`}
                value={url}
                onChange={(e) => setUrl(e.target.value)}
                placeholder="registry.example.com or http://127.0.0.1:5001"
                required
                autoCapitalize="off"
                spellCheck={false}
                className="font-mono"
                data-testid="registry-url"
              />
              <p className="text-xs text-muted-foreground">A host and optional port, as image names use it. No path.</p>
            </div>
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-user`}>User name</Label>
                <Input id={`${ids}-user`} value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" data-testid="registry-username" />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-password`}>Password or token</Label>
                <Input
                  id={`${ids}-password`}
                  type="password"
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  autoComplete="new-password"
                  placeholder={registry?.has_secret ? "unchanged" : ""}
                  data-testid="registry-password"
                />
              </div>
            </div>
            <label className="flex items-center gap-2 text-sm">
              <Checkbox checked={insecure} onChange={(e) => setInsecure(e.target.checked)} data-testid="registry-insecure" />
              Plain HTTP (no TLS)
            </label>
            <div className="flex flex-wrap items-center gap-3">
              <Button type="button" variant="outline" size="sm" onClick={() => test.mutate()} disabled={busy || !url} data-testid="registry-test">
                {test.isPending ? <Loader2 className="animate-spin" /> : <PlugZap />} Test connection
              </Button>
              <TestResult outcome={outcome} />
            </div>
            {formError && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="registry-form-error">
                {formError}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" disabled={busy || !name || !url} data-testid="registry-save">
              {save.isPending && <Loader2 className="animate-spin" />}
              {registry ? "Save" : "Add registry"}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

function RowTest({ registry }: { registry: RegistryOut }) {
  const [outcome, setOutcome] = useState<TestOutcome | null>(null);
  const test = useMutation({
    mutationFn: () => registriesApi.test(registry.id),
    meta: { toast: () => false },
    onMutate: () => setOutcome(null),
    onSuccess: (r) => setOutcome(outcomeOf(r)),
    onError: (err) => setOutcome(outcomeOfError(err)),
  });
  return (
    <div className="flex items-center gap-2">
      <Button variant="ghost" size="sm" onClick={() => test.mutate()} disabled={test.isPending} data-testid="registry-row-test">
        {test.isPending ? <Loader2 className="animate-spin" /> : <PlugZap />} Test
      </Button>
      <TestResult outcome={outcome} />
    </div>
  );
}

export function RegistriesPage() {
  usePageTitle("Registries");
  const registries = useRegistries();
  const { editing, dialogOpen, setDialogOpen, openDialog, deleting, setDeleting, remove } = useListEditing<RegistryOut>({
    remove: (id) => registriesApi.remove(id),
    queryKey: registryKeys.all,
    noun: "the registry",
    verb: "Removed",
  });
  const add = (
    <Button onClick={() => openDialog(null)} data-testid="registry-add">
      <Plus /> Add registry
    </Button>
  );

  let body;
  if (registries.isError) {
    body = <ErrorState error={registries.error} title="Couldn't load the registries" onRetry={() => void registries.refetch()} />;
  } else if (registries.isPending) {
    body = (
      <Card className="space-y-3 p-5">
        {Array.from({ length: 3 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-full" />
        ))}
      </Card>
    );
  } else if (registries.data.items.length === 0) {
    body = (
      <EmptyState
        icon={KeyRound}
        title="No registries yet"
        description="Add a private registry's credentials so Dockyard can pull from it and check its images for updates. Public images need none."
        action={add}
      />
    );
  } else {
    body = (
      <Card className="overflow-x-auto">
        <Table data-testid="registries-table">
          <TableHeader>
            <TableRow className="hover:bg-transparent">
              <TableHead>Name</TableHead>
              <TableHead>Registry</TableHead>
              <TableHead>User</TableHead>
              <TableHead>Password</TableHead>
              <TableHead>Updated</TableHead>
              <TableHead>Connection</TableHead>
              <TableHead className="w-20"><span className="sr-only">Actions</span></TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {registries.data.items.map((r) => (
              <TableRow key={r.id} data-testid="registry-row" data-host={r.host}>
                <TableCell className="font-medium">{r.name}</TableCell>
                <TableCell>
                  <span className="font-mono text-[13px]">{r.url}</span>
                  {r.insecure && (
                    <Badge tone="warning" className="ml-2">
                      HTTP
                    </Badge>
                  )}
                </TableCell>
                <TableCell>{orDash(r.username)}</TableCell>
                <TableCell>{r.has_secret ? <Badge tone="success">stored</Badge> : <Badge>none</Badge>}</TableCell>
                <TableCell className="whitespace-nowrap text-muted-foreground" title={formatUtc(r.updated_at)}>
                  {formatRelative(r.updated_at)}
                </TableCell>
                <TableCell>
                  <RowTest registry={r} />
                </TableCell>
                <TableCell className="py-1.5">
                  <div className="flex justify-end gap-1">
                    <Button variant="ghost" size="icon" aria-label={`Edit ${r.name}`} onClick={() => openDialog(r)} data-testid="registry-edit">
                      <Pencil />
                    </Button>
                    <Button variant="ghost" size="icon" aria-label={`Delete ${r.name}`} onClick={() => setDeleting(r)} data-testid="registry-delete">
                      <Trash2 />
                    </Button>
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
      <PageHeader description="Credentials for private image registries, used for pulls and update checks." actions={registries.data?.items.length ? add : undefined} />
      {body}
      <RegistryDialog open={dialogOpen} onOpenChange={setDialogOpen} registry={editing} />
      <ConfirmDialog
        open={deleting !== null}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete ${deleting?.name ?? ""}?`}
        description="Pulls and update checks of its images will no longer authenticate."
        confirmLabel="Delete"
        destructive
        pending={remove.isPending}
        onConfirm={() => {
          if (deleting) remove.mutate(deleting.id);
        }}
      />
    </div>
  );
}
