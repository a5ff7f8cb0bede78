import { useMutation, useQueryClient } from "@tanstack/react-query";
import { KeyRound, Loader2, Plus, ShieldAlert, ShieldCheck, Terminal, Trash2 } from "lucide-react";
import { useEffect, useId, useState } from "react";
import { toast } from "sonner";
import { isApiError } from "@/api/errors";
import { sshApi, sshKeys, useHostSsh, useSshCredentials, type HostKeyScanOut, type SshCredentialCreate } from "@/api/ssh";
import { ErrorState } from "@/components/ErrorState";
import { Button } from "@/components/ui/button";
import { Dialog, DialogBody, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Textarea } from "@/components/ui/textarea";
import { formatRelative } from "@/lib/format";
import { useCan } from "@/lib/permissions";
import { SshTerminalDialog } from "./SshTerminalDialog";

function errorMessage(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

const EMPTY: SshCredentialCreate = { name: "", username: "", auth_type: "key", private_key: "", passphrase: "", password: "" };

/** Create a reusable SSH credential (the secret is write-only) and assign it to the host. */
function CredentialDialog({ open, onOpenChange, onCreated }: { open: boolean; onOpenChange: (o: boolean) => void; onCreated: (id: number) => void }) {
  const ids = useId();
  const [form, setForm] = useState<SshCredentialCreate>(EMPTY);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) {
      setForm(EMPTY);
      setError(null);
    }
  }, [open]);
  const set = (key: keyof SshCredentialCreate) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));
  const create = useMutation({
    mutationFn: () =>
      sshApi.createCredential(
        form.auth_type === "key"
          ? { name: form.name, username: form.username, auth_type: "key", private_key: form.private_key, passphrase: form.passphrase || null }
          : { name: form.name, username: form.username, auth_type: "password", password: form.password },
      ),
    meta: { toast: (err: unknown) => !(isApiError(err) && (err.status === 422 || err.status === 409)) },
    onMutate: () => setError(null),
    onError: (err) => setError(errorMessage(err, "Saving failed.")),
    onSuccess: (created) => {
      toast(`Saved credential ${created.name}`);
      onCreated(created.id);
      onOpenChange(false);
    },
  });
  return (
    <Dialog open={open} onOpenChange={(o) => !create.isPending && onOpenChange(o)}>
      <DialogContent data-testid="ssh-credential-dialog">
        <form
          className="flex min-h-0 flex-col"
          onSubmit={(e) => {
            e.preventDefault();
            if (!create.isPending) create.mutate();
          }}
        >
          <DialogHeader>
            <DialogTitle>New SSH credential</DialogTitle>
            <DialogDescription>Stored encrypted on the server and never shown again; other hosts can reuse it.</DialogDescription>
          </DialogHeader>
          <DialogBody className="space-y-4">
            <div className="grid gap-4 sm:grid-cols-2">
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-name`}>Name</Label>
                <Input id={`${ids}-name`} value={form.name} onChange={set("name")} required placeholder="deploy key" data-testid="ssh-cred-name" />
              </div>
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-user`}>User</Label>
                <Input id={`${ids}-user`} value={form.username} onChange={set("username")} required autoCapitalize="off" spellCheck={false} placeholder="deploy" data-testid="ssh-cred-user" />
              </div>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-type`}>Authentication</Label>
              <NativeSelect id={`${ids}-type`} value={form.auth_type} onChange={set("auth_type")} data-testid="ssh-cred-type">
                <option value="key">Private key</option>
                <option value="password">Password</option>
              </NativeSelect>
            </div>
            {form.auth_type === "key" ? (
              <>
                <div className="space-y-1.5">
                  <Label htmlFor={`${ids}-key`}>Private key (OpenSSH or PEM)</Label>
                  <Textarea
                    id={`${ids}-key`}
                    value={form.private_key ?? ""}
                    onChange={set("private_key")}
                    rows={6}
                    className="font-mono text-xs"
                    spellCheck={false}
                    placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
                    data-testid="ssh-cred-key"
                  />
                </div>
                <div className="space-y-1.5">
                  <Label htmlFor={`${ids}-pp`}>Passphrase (if the key has one)</Label>
                  <Input id={`${ids}-pp`} type="password" autoComplete="off" value={form.passphrase ?? ""} onChange={set("passphrase")} data-testid="ssh-cred-passphrase" />
                </div>
              </>
            ) : (
              <div className="space-y-1.5">
                <Label htmlFor={`${ids}-pw`}>Password</Label>
                <Input id={`${ids}-pw`} type="password" autoComplete="new-password" value={form.password ?? ""} onChange={set("password")} data-testid="ssh-cred-password" />
              </div>
            )}
            {error && (
              <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="ssh-cred-error">
                {error}
              </p>
            )}
          </DialogBody>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => onOpenChange(false)} disabled={create.isPending}>
              Cancel
            </Button>
            <Button type="submit" disabled={create.isPending || !form.name || !form.username} data-testid="ssh-cred-save">
              {create.isPending && <Loader2 className="animate-spin" />}
              Save and assign
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

/** Confirm a scanned host key (trust on first use) before the first connection. */
function HostKeyDialog({ scan, hostname, busy, onTrust, onOpenChange }: { scan: HostKeyScanOut | null; hostname: string; busy: boolean; onTrust: () => void; onOpenChange: (o: boolean) => void }) {
  const mismatch = scan?.status === "mismatch";
  return (
    <Dialog open={scan !== null} onOpenChange={(o) => !busy && onOpenChange(o)}>
      <DialogContent data-testid="ssh-hostkey-dialog">
        <DialogHeader>
          <DialogTitle>{mismatch ? "Host key mismatch" : "Trust this host key?"}</DialogTitle>
          <DialogDescription>
            {mismatch
              ? `${hostname} presents a different key than the trusted one. Connecting is refused until an administrator deletes the stored key.`
              : `First connection to ${hostname}: compare the fingerprint with the server's (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) before trusting it.`}
          </DialogDescription>
        </DialogHeader>
        {scan && (
          <DialogBody className="space-y-2 text-sm">
            <p>
              <span className="text-muted-foreground">Server</span> <span className="font-mono">{scan.address}:{scan.port}</span>
            </p>
            <p>
              <span className="text-muted-foreground">Key type</span> <span className="font-mono">{scan.key_type}</span>
            </p>
            <p className="break-all rounded-md border bg-muted/40 p-2 font-mono" data-testid="ssh-hostkey-fingerprint">
              {scan.fingerprint}
            </p>
            {mismatch && (
              <p className="break-all text-red-700 dark:text-red-300" data-testid="ssh-hostkey-trusted">
                Trusted: <span className="font-mono">{scan.trusted_fingerprint}</span>
              </p>
            )}
          </DialogBody>
        )}
        <DialogFooter>
          <Button variant="outline" onClick={() => onOpenChange(false)} disabled={busy}>
            Cancel
          </Button>
          {!mismatch && (
            <Button onClick={onTrust} disabled={busy} data-testid="ssh-hostkey-trust">
              {busy && <Loader2 className="animate-spin" />}
              Trust and connect
            </Button>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

/** The host drawer's SSH section: credential, trusted host key, and the Terminal button. */
export function HostSshPanel({ hostId, hostname }: { hostId: number; hostname: string }) {
  const queryClient = useQueryClient();
  const canManage = useCan("hosts:manage");
  const canSsh = useCan("hosts:ssh");
  const ssh = useHostSsh(hostId);
  const credentials = useSshCredentials(canManage);
  const [creating, setCreating] = useState(false);
  const [scanned, setScanned] = useState<HostKeyScanOut | null>(null);
  const [terminal, setTerminal] = useState(false);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: sshKeys.all });

  const assign = useMutation({
    mutationFn: (id: number | null) => sshApi.assign(hostId, id),
    onSuccess: () => refresh(),
  });
  const scan = useMutation({
    mutationFn: () => sshApi.scan(hostId),
    onSuccess: (result) => {
      if (result.status === "trusted") setTerminal(true);
      else setScanned(result);
    },
  });
  const trust = useMutation({
    mutationFn: (fingerprint: string) => sshApi.trust(hostId, fingerprint),
    onSuccess: () => {
      refresh();
      setScanned(null);
      setTerminal(true);
    },
  });
  const forget = useMutation({
    mutationFn: () => sshApi.forgetKey(hostId),
    onSuccess: () => {
      toast("Forgot the host key: the next connection asks to trust it again.");
      refresh();
    },
  });

  if (ssh.isError) return <ErrorState error={ssh.error} title="Couldn't load the SSH settings" onRetry={() => void ssh.refetch()} />;
  if (ssh.isPending) return <Skeleton className="h-24 w-full" />;
  const state = ssh.data;
  const blockers = state.problems.filter((p) => !p.startsWith("The host key is not trusted"));

  return (
    <section className="space-y-3" data-testid="host-ssh-panel">
      <div className="flex items-center justify-between gap-2">
        <h3 className="text-sm font-semibold">SSH terminal</h3>
        {canSsh && (
          <Button size="sm" onClick={() => scan.mutate()} disabled={scan.isPending || blockers.length > 0} data-testid="host-terminal-open">
            {scan.isPending ? <Loader2 className="animate-spin" /> : <Terminal className="size-4" />}
            Terminal
          </Button>
        )}
      </div>
      <div className="space-y-2 rounded-md border p-3 text-sm">
        <div className="flex flex-wrap items-center gap-2">
          <KeyRound className="size-4 text-muted-foreground" />
          <span className="text-muted-foreground">Credential</span>
          {canManage ? (
            <>
              <NativeSelect
                aria-label="SSH credential"
                className="w-56"
                value={state.credential?.id ?? ""}
                onChange={(e) => assign.mutate(e.target.value ? Number(e.target.value) : null)}
                disabled={assign.isPending}
                data-testid="host-ssh-credential"
              >
                <option value="">None</option>
                {(credentials.data?.items ?? []).map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name} ({c.username}, {c.auth_type})
                  </option>
                ))}
              </NativeSelect>
              <Button size="sm" variant="outline" onClick={() => setCreating(true)} data-testid="host-ssh-credential-new">
                <Plus className="size-4" /> New
              </Button>
            </>
          ) : (
            <span className="font-mono">{state.credential ? `${state.credential.name} (${state.credential.username})` : "none"}</span>
          )}
        </div>
        {state.credential?.key_fingerprint && (
          <p className="break-all pl-6 font-mono text-xs text-muted-foreground">
            {state.credential.key_type} {state.credential.key_fingerprint}
          </p>
        )}
        <div className="flex flex-wrap items-center gap-2">
          {state.host_key ? <ShieldCheck className="size-4 text-emerald-600" /> : <ShieldAlert className="size-4 text-amber-600" />}
          <span className="text-muted-foreground">Host key</span>
          {state.host_key ? (
            <>
              <span className="break-all font-mono text-xs" data-testid="host-ssh-hostkey">
                {state.host_key.key_type} {state.host_key.fingerprint}
              </span>
              <span className="text-xs text-muted-foreground">trusted {formatRelative(state.host_key.trusted_at)}</span>
              {canManage && (
                <Button size="sm" variant="ghost" onClick={() => forget.mutate()} disabled={forget.isPending} data-testid="host-ssh-hostkey-forget" title="Forget the trusted key (after an expected key change)">
                  <Trash2 className="size-4" /> Forget
                </Button>
              )}
            </>
          ) : (
            <span className="text-xs" data-testid="host-ssh-hostkey">
              not trusted yet (confirmed on first connection)
            </span>
          )}
        </div>
        {state.bastion && (
          <p className="pl-6 text-xs text-muted-foreground">
            Through bastion <span className="font-mono">{state.bastion.hostname}</span>
          </p>
        )}
        {blockers.length > 0 && (
          <ul className="list-disc space-y-1 pl-10 text-xs text-amber-700 dark:text-amber-400" data-testid="host-ssh-problems">
            {blockers.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
      </div>
      <CredentialDialog open={creating} onOpenChange={setCreating} onCreated={(id) => assign.mutate(id)} />
      <HostKeyDialog scan={scanned} hostname={hostname} busy={trust.isPending} onTrust={() => scanned && trust.mutate(scanned.fingerprint)} onOpenChange={(o) => !o && setScanned(null)} />
      {terminal && <SshTerminalDialog hostId={hostId} hostname={hostname} open={terminal} onOpenChange={setTerminal} />}
    </section>
  );
}
