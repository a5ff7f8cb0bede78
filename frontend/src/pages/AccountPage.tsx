import { useMutation, useQueryClient } from "@tanstack/react-query";
import {
  AlertTriangle,
  Check,
  Copy,
  Download,
  Gauge,
  KeyRound,
  Loader2,
  LogOut,
  MonitorSmartphone,
  Plus,
  ShieldCheck,
  ShieldOff,
  Trash2,
} from "lucide-react";
import { useId, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";
import {
  accountApi,
  accountKeys,
  useMfaStatus,
  useMySessions,
  useMyTokens,
  type ApiTokenCreated,
  type MfaEnrollment,
} from "@/api/account";
import { isApiError } from "@/api/errors";
import { queryKeys, useMe } from "@/api/queries";
import { useMyQuota } from "@/api/users";
import { QuotaUsage } from "@/components/QuotaUsage";
import { EmptyState } from "@/components/EmptyState";
import { ErrorState } from "@/components/ErrorState";
import { PageHeader } from "@/components/PageHeader";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Checkbox } from "@/components/ui/checkbox";
import {
  Dialog,
  DialogBody,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog";
import { Input, NativeSelect } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Skeleton } from "@/components/ui/skeleton";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table";
import { formatDateTime, formatRelative } from "@/lib/format";
import { usePageTitle } from "@/lib/pageTitle";

const MIN_PASSWORD = 12;
const MAX_PASSWORD = 128;

function errorText(err: unknown, fallback: string): string {
  return isApiError(err) ? err.message : fallback;
}

/** Inline form error (never a toast: the user is looking at the form). */
function FormError({ children, testId }: { children: ReactNode; testId?: string }) {
  if (!children) return null;
  return (
    <div
      role="alert"
      data-testid={testId}
      className="flex gap-2 rounded-md border border-destructive/30 bg-destructive/10 px-3 py-2 text-sm text-destructive dark:text-red-300"
    >
      <AlertTriangle className="mt-0.5 size-4 shrink-0" />
      <span>{children}</span>
    </div>
  );
}

function CopyButton({ text, label = "Copy", testId }: { text: string; label?: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      toast.error("Copying failed: select the text and copy it by hand.");
    }
  };
  return (
    <Button type="button" variant="outline" size="sm" onClick={() => void copy()} data-testid={testId}>
      {copied ? <Check /> : <Copy />} {copied ? "Copied" : label}
    </Button>
  );
}

function downloadText(name: string, text: string) {
  const href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

// ---------------------------------------------------------------- password

function PasswordCard({ mfaEnabled }: { mfaEnabled: boolean }) {
  const ids = useId();
  const queryClient = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [otp, setOtp] = useState("");
  const [formError, setFormError] = useState<string | null>(null);

  const change = useMutation({
    mutationFn: () =>
      accountApi.changePassword({ current_password: current, new_password: next, otp: mfaEnabled ? otp.trim() : null }),
    meta: { toast: false },
    onMutate: () => setFormError(null),
    onError: (err) => {
      setFormError(errorText(err, "Changing the password failed."));
      setOtp("");
    },
    onSuccess: () => {
      setCurrent("");
      setNext("");
      setRepeat("");
      setOtp("");
      void queryClient.invalidateQueries({ queryKey: accountKeys.all });
      toast.success("Password changed. Your other sessions and API tokens were signed out.");
    },
  });

  const localProblem =
    next.length > 0 && next.length < MIN_PASSWORD
      ? `At least ${MIN_PASSWORD} characters.`
      : next.length > MAX_PASSWORD
        ? `At most ${MAX_PASSWORD} characters.`
        : repeat.length > 0 && repeat !== next
          ? "The two new passwords differ."
          : null;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (localProblem || change.isPending) return;
    change.mutate();
  };

  return (
    <Card>
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <KeyRound className="size-4" /> Password
        </CardTitle>
        <CardDescription>
          {MIN_PASSWORD}–{MAX_PASSWORD} characters; a passphrase of a few words is best. Common passwords are refused.
          Changing it signs out your other sessions and revokes your API tokens.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={onSubmit} className="grid max-w-md gap-3" data-testid="password-form">
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-current`}>Current password</Label>
            <Input
              id={`${ids}-current`}
              type="password"
              autoComplete="current-password"
              required
              value={current}
              onChange={(e) => setCurrent(e.target.value)}
              data-testid="password-current"
            />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-new`}>New password</Label>
            <Input
              id={`${ids}-new`}
              type="password"
              autoComplete="new-password"
              required
              value={next}
              onChange={(e) => setNext(e.target.value)}
              data-testid="password-new"
            />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor={`${ids}-repeat`}>Repeat new password</Label>
            <Input
              id={`${ids}-repeat`}
              type="password"
              autoComplete="new-password"
              required
              value={repeat}
              onChange={(e) => setRepeat(e.target.value)}
              data-testid="password-repeat"
            />
          </div>
          {mfaEnabled && (
            <div className="space-y-1.5">
              <Label htmlFor={`${ids}-otp`}>Authentication code</Label>
              <Input
                id={`${ids}-otp`}
                inputMode="numeric"
                autoComplete="one-time-code"
                required
                value={otp}
                onChange={(e) => setOtp(e.target.value)}
                data-testid="password-otp"
              />
            </div>
          )}
          <FormError testId="password-error">{localProblem ?? formError}</FormError>
          <div>
            <Button type="submit" disabled={change.isPending || !!localProblem} data-testid="password-submit">
              {change.isPending && <Loader2 className="animate-spin" />} Change password
            </Button>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}

// ---------------------------------------------------------------- MFA

function RecoveryCodesPanel({ codes, email, onDone }: { codes: string[]; email: string; onDone: () => void }) {
  const text = `Dockyard recovery codes for ${email}\nEach code works once.\n\n${codes.join("\n")}\n`;
  return (
    <div className="space-y-3" data-testid="recovery-codes-panel">
      <div className="flex gap-2 rounded-md border border-amber-300/60 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-200">
        <AlertTriangle className="mt-0.5 size-4 shrink-0" />
        <span>
          Save these recovery codes now: they are shown only this once. Each one signs you in once if you lose your
          authenticator.
        </span>
      </div>
      <ol
        className="grid max-w-md grid-cols-2 gap-x-6 gap-y-1 rounded-md border bg-muted/40 p-3 font-mono text-sm"
        data-testid="recovery-codes"
      >
        {codes.map((code) => (
          <li key={code}>{code}</li>
        ))}
      </ol>
      <div className="flex flex-wrap gap-2">
        <CopyButton text={codes.join("\n")} label="Copy codes" testId="recovery-copy" />
        <Button
          type="button"
          variant="outline"
          size="sm"
          onClick={() => downloadText("dockyard-recovery-codes.txt", text)}
          data-testid="recovery-download"
        >
          <Download /> Download
        </Button>
        <Button type="button" size="sm" onClick={onDone} data-testid="recovery-done">
          <Check /> I saved them
        </Button>
      </div>
    </div>
  );
}

function MfaEnrollFlow({ email, onFinished }: { email: string; onFinished: () => void }) {
  const ids = useId();
  const queryClient = useQueryClient();
  const [password, setPassword] = useState("");
  const [enrollment, setEnrollment] = useState<MfaEnrollment | null>(null);
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const [formError, setFormError] = useState<string | null>(null);

  const start = useMutation({
    mutationFn: () => accountApi.enroll(password),
    meta: { toast: false },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Starting the setup failed.")),
    onSuccess: (data) => {
      setPassword("");
      setEnrollment(data);
    },
  });
  const confirm = useMutation({
    mutationFn: () => accountApi.confirm(code.replace(/\s/g, "")),
    meta: { toast: false },
    onMutate: () => setFormError(null),
    onError: (err) => {
      setCode("");
      setFormError(errorText(err, "The code was not accepted."));
    },
    onSuccess: (data) => {
      setCodes(data.recovery_codes);
      void queryClient.invalidateQueries({ queryKey: accountKeys.mfa });
      void queryClient.invalidateQueries({ queryKey: queryKeys.me });
    },
  });

  if (codes) return <RecoveryCodesPanel codes={codes} email={email} onDone={onFinished} />;

  if (!enrollment) {
    return (
      <form
        className="grid max-w-md gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          if (!start.isPending) start.mutate();
        }}
        data-testid="mfa-start-form"
      >
        <div className="space-y-1.5">
          <Label htmlFor={`${ids}-pw`}>Confirm with your password</Label>
          <Input
            id={`${ids}-pw`}
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            data-testid="mfa-password"
          />
        </div>
        <FormError testId="mfa-error">{formError}</FormError>
        <div className="flex gap-2">
          <Button type="submit" disabled={start.isPending} data-testid="mfa-start">
            {start.isPending && <Loader2 className="animate-spin" />} Continue
          </Button>
          <Button type="button" variant="ghost" onClick={onFinished}>
            Cancel
          </Button>
        </div>
      </form>
    );
  }

  return (
    <div className="grid gap-5 md:grid-cols-[auto_1fr]" data-testid="mfa-enroll">
      <div className="flex flex-col items-center gap-2">
        <img
          src={enrollment.qr_svg}
          alt="QR code to scan with your authenticator app"
          className="size-48 rounded-md border bg-white p-1"
          data-testid="mfa-qr"
        />
        <span className="text-xs text-muted-foreground">Scan with your authenticator app</span>
      </div>
      <form
        className="grid max-w-md content-start gap-3"
        onSubmit={(e) => {
          e.preventDefault();
          if (!confirm.isPending) confirm.mutate();
        }}
      >
        <div className="space-y-1.5">
          <Label>Or enter this key manually</Label>
          <div className="flex items-center gap-2">
            <code
              className="rounded-md border bg-muted px-2 py-1.5 font-mono text-sm tracking-wider break-all"
              data-testid="mfa-secret"
            >
              {enrollment.secret.replace(/(.{4})/g, "$1 ").trim()}
            </code>
            <CopyButton text={enrollment.secret} testId="mfa-secret-copy" />
          </div>
          <p className="text-xs text-muted-foreground">
            Time-based (TOTP), {enrollment.digits} digits, every {enrollment.period_s} seconds.
          </p>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor={`${ids}-code`}>Code from the app</Label>
          <Input
            id={`${ids}-code`}
            inputMode="numeric"
            autoComplete="one-time-code"
            maxLength={8}
            required
            autoFocus
            placeholder="123456"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            data-testid="mfa-code"
          />
        </div>
        <FormError testId="mfa-error">{formError}</FormError>
        <div className="flex gap-2">
          <Button type="submit" disabled={confirm.isPending} data-testid="mfa-confirm">
            {confirm.isPending && <Loader2 className="animate-spin" />} Turn on two-factor authentication
          </Button>
          <Button type="button" variant="ghost" onClick={onFinished}>
            Cancel
          </Button>
        </div>
      </form>
    </div>
  );
}

function MfaDisableForm({ onFinished }: { onFinished: () => void }) {
  const ids = useId();
  const queryClient = useQueryClient();
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const disable = useMutation({
    mutationFn: () => accountApi.disable(password, code.trim()),
    meta: { toast: false },
    onMutate: () => setFormError(null),
    onError: (err) => {
      setCode("");
      setFormError(errorText(err, "Turning two-factor authentication off failed."));
    },
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: accountKeys.mfa });
      void queryClient.invalidateQueries({ queryKey: queryKeys.me });
      toast("Two-factor authentication is off.");
      onFinished();
    },
  });
  return (
    <form
      className="grid max-w-md gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        if (!disable.isPending) disable.mutate();
      }}
      data-testid="mfa-disable-form"
    >
      <div className="space-y-1.5">
        <Label htmlFor={`${ids}-pw`}>Password</Label>
        <Input
          id={`${ids}-pw`}
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor={`${ids}-code`}>Code or recovery code</Label>
        <Input
          id={`${ids}-code`}
          autoComplete="one-time-code"
          required
          value={code}
          onChange={(e) => setCode(e.target.value)}
        />
      </div>
      <FormError>{formError}</FormError>
      <div className="flex gap-2">
        <Button type="submit" variant="destructive" disabled={disable.isPending}>
          {disable.isPending && <Loader2 className="animate-spin" />} Turn off
        </Button>
        <Button type="button" variant="ghost" onClick={onFinished}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function MfaCard({ email, required }: { email: string; required: boolean }) {
  const status = useMfaStatus();
  const [mode, setMode] = useState<"idle" | "enroll" | "disable">("idle");
  const enabled = status.data?.enabled ?? false;
  return (
    <Card data-testid="mfa-card">
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <ShieldCheck className="size-4" /> Two-factor authentication
          {status.data &&
            (enabled ? (
              <Badge tone="success" data-testid="mfa-state">
                On
              </Badge>
            ) : (
              <Badge tone={required ? "danger" : "neutral"} data-testid="mfa-state">
                Off
              </Badge>
            ))}
        </CardTitle>
        <CardDescription>
          A code from an authenticator app (TOTP) is asked after your password when you sign in.
        </CardDescription>
      </CardHeader>
      <CardContent className="space-y-3">
        {status.isPending ? (
          <Skeleton className="h-9 w-48" />
        ) : status.isError ? (
          <ErrorState error={status.error} onRetry={() => void status.refetch()} />
        ) : mode === "enroll" ? (
          <MfaEnrollFlow email={email} onFinished={() => setMode("idle")} />
        ) : mode === "disable" ? (
          <MfaDisableForm onFinished={() => setMode("idle")} />
        ) : enabled ? (
          <div className="flex flex-wrap items-center gap-3">
            <span className="text-sm text-muted-foreground" data-testid="mfa-codes-left">
              On since {formatDateTime(status.data.confirmed_at)} · {status.data.recovery_codes_left} recovery codes left
            </span>
            <Button variant="outline" size="sm" onClick={() => setMode("disable")} data-testid="mfa-disable">
              <ShieldOff /> Turn off
            </Button>
          </div>
        ) : (
          <Button onClick={() => setMode("enroll")} data-testid="mfa-enroll">
            <ShieldCheck /> Set up two-factor authentication
          </Button>
        )}
      </CardContent>
    </Card>
  );
}

// ---------------------------------------------------------------- sessions

function SessionsCard() {
  const queryClient = useQueryClient();
  const sessions = useMySessions();
  const revoke = useMutation({
    mutationFn: accountApi.revokeSession,
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: accountKeys.sessions });
      toast("Session signed out.");
    },
  });
  const revokeOthers = useMutation({
    mutationFn: accountApi.revokeOtherSessions,
    onSuccess: (data) => {
      void queryClient.invalidateQueries({ queryKey: accountKeys.sessions });
      toast(`${data.revoked} other session${data.revoked === 1 ? "" : "s"} signed out.`);
    },
  });
  const others = (sessions.data ?? []).filter((s) => !s.current).length;
  return (
    <Card>
      <CardHeader className="flex flex-row flex-wrap items-start justify-between gap-3">
        <div>
          <CardTitle className="flex items-center gap-2">
            <MonitorSmartphone className="size-4" /> Sessions
          </CardTitle>
          <CardDescription>Where you are signed in. Signing a session out also closes its live connection.</CardDescription>
        </div>
        <Button
          variant="outline"
          size="sm"
          disabled={others === 0 || revokeOthers.isPending}
          onClick={() => revokeOthers.mutate()}
          data-testid="sessions-revoke-others"
        >
          <LogOut /> Sign out other sessions
        </Button>
      </CardHeader>
      <CardContent>
        {sessions.isPending ? (
          <Skeleton className="h-24 w-full" />
        ) : sessions.isError ? (
          <ErrorState error={sessions.error} onRetry={() => void sessions.refetch()} />
        ) : (
          <Table data-testid="sessions-table">
            <TableHeader>
              <TableRow>
                <TableHead>Device</TableHead>
                <TableHead>IP address</TableHead>
                <TableHead>Signed in</TableHead>
                <TableHead>Last active</TableHead>
                <TableHead className="w-px" />
              </TableRow>
            </TableHeader>
            <TableBody>
              {sessions.data.map((s) => (
                <TableRow key={s.id} data-testid="session-row">
                  <TableCell>
                    <div className="flex items-center gap-2">
                      <span className="font-medium" title={s.user_agent ?? undefined}>
                        {s.device}
                      </span>
                      {s.current && <Badge tone="accent">This session</Badge>}
                      {s.auth_method !== "password" && <Badge tone="success">2FA</Badge>}
                    </div>
                  </TableCell>
                  <TableCell className="font-mono text-xs">{s.ip ?? "—"}</TableCell>
                  <TableCell title={formatDateTime(s.created_at)}>{formatRelative(s.created_at)}</TableCell>
                  <TableCell title={formatDateTime(s.last_active_at)}>{formatRelative(s.last_active_at)}</TableCell>
                  <TableCell>
                    {!s.current && (
                      <Button
                        variant="ghost"
                        size="sm"
                        disabled={revoke.isPending}
                        onClick={() => revoke.mutate(s.id)}
                        data-testid="session-revoke"
                      >
                        Sign out
                      </Button>
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}

// ---------------------------------------------------------------- API tokens

const EXPIRY_CHOICES = [
  { label: "7 days", days: 7 },
  { label: "30 days", days: 30 },
  { label: "90 days", days: 90 },
  { label: "1 year", days: 365 },
  { label: "Never", days: 0 },
];

function CreateTokenDialog({
  open,
  onOpenChange,
  permissions,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  permissions: string[];
}) {
  const ids = useId();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [days, setDays] = useState(30);
  const [scopes, setScopes] = useState<Set<string>>(new Set());
  const [created, setCreated] = useState<ApiTokenCreated | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const groups = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const p of [...permissions].sort()) {
      const [resource] = p.split(":");
      map.set(resource!, [...(map.get(resource!) ?? []), p]);
    }
    return [...map.entries()];
  }, [permissions]);

  const create = useMutation({
    mutationFn: () =>
      accountApi.createToken({
        name: name.trim(),
        scopes: [...scopes],
        expires_at: days ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
      }),
    meta: { toast: false },
    onMutate: () => setFormError(null),
    onError: (err) => setFormError(errorText(err, "Creating the token failed.")),
    onSuccess: (token) => {
      setCreated(token);
      void queryClient.invalidateQueries({ queryKey: accountKeys.tokens });
    },
  });

  const close = (o: boolean) => {
    if (!o) {
      setName("");
      setScopes(new Set());
      setDays(30);
      setCreated(null);
      setFormError(null);
    }
    onOpenChange(o);
  };

  const toggle = (scope: string, on: boolean) =>
    setScopes((s) => {
      const next = new Set(s);
      if (on) next.add(scope);
      else next.delete(scope);
      return next;
    });

  return (
    <Dialog open={open} onOpenChange={close}>
      <DialogContent className="max-w-xl" data-testid="token-dialog">
        <DialogHeader>
          <DialogTitle>{created ? "Your new API token" : "New API token"}</DialogTitle>
          <DialogDescription>
            {created
              ? "Copy it now: it is shown only this once."
              : "Use it as `Authorization: Bearer …` or as DOCKYARD_TOKEN for the CLI."}
          </DialogDescription>
        </DialogHeader>
        {created ? (
          <DialogBody className="space-y-3">
            <code
              className="block rounded-md border bg-muted px-3 py-2 font-mono text-sm break-all"
              data-testid="new-token"
            >
              {created.token}
            </code>
            <CopyButton text={created.token} label="Copy token" testId="new-token-copy" />
          </DialogBody>
        ) : (
          <form
            id={`${ids}-form`}
            onSubmit={(e) => {
              e.preventDefault();
              if (!create.isPending) create.mutate();
            }}
          >
            <DialogBody className="space-y-4">
              <div className="grid gap-3 sm:grid-cols-[1fr_10rem]">
                <div className="space-y-1.5">
                  <Label htmlFor={`${ids}-name`}>Name</Label>
                  <Input
                    id={`${ids}-name`}
                    required
                    maxLength={100}
                    placeholder="CI deploys"
                    value={name}
                    onChange={(e) => setName(e.target.value)}
                    data-testid="token-name"
                  />
                </div>
                <div className="space-y-1.5">
                  <Label htmlFor={`${ids}-exp`}>Expires</Label>
                  <NativeSelect
                    id={`${ids}-exp`}
                    value={String(days)}
                    onChange={(e) => setDays(Number(e.target.value))}
                    data-testid="token-expiry"
                  >
                    {EXPIRY_CHOICES.map((c) => (
                      <option key={c.days} value={c.days}>
                        {c.label}
                      </option>
                    ))}
                  </NativeSelect>
                </div>
              </div>
              <fieldset className="space-y-2">
                <legend className="text-sm font-medium">Scopes (what the token may do)</legend>
                <div className="grid max-h-64 gap-x-4 gap-y-2 overflow-y-auto rounded-md border p-3 sm:grid-cols-2">
                  {groups.map(([resource, perms]) => (
                    <div key={resource} className="space-y-1">
                      <p className="text-xs font-semibold text-muted-foreground capitalize">{resource}</p>
                      {perms.map((p) => (
                        <label key={p} className="flex items-center gap-2 text-sm">
                          <Checkbox
                            checked={scopes.has(p)}
                            onChange={(e) => toggle(p, e.target.checked)}
                            data-testid={`scope-${p}`}
                          />
                          <span className="font-mono text-xs">{p}</span>
                        </label>
                      ))}
                    </div>
                  ))}
                </div>
              </fieldset>
              <FormError testId="token-error">{formError}</FormError>
            </DialogBody>
          </form>
        )}
        <DialogFooter>
          {created ? (
            <Button onClick={() => close(false)} data-testid="token-done">
              Done
            </Button>
          ) : (
            <>
              <Button variant="ghost" onClick={() => close(false)}>
                Cancel
              </Button>
              <Button
                type="submit"
                form={`${ids}-form`}
                disabled={create.isPending || scopes.size === 0 || !name.trim()}
                data-testid="token-create"
              >
                {create.isPending && <Loader2 className="animate-spin" />} Create token
              </Button>
            </>
          )}
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

function TokensCard({ permissions }: { permissions: string[] }) {
  const queryClient = useQueryClient();
  const tokens = useMyTokens();
  const [open, setOpen] = useState(false);
  const revoke = useMutation({
    mutationFn: accountApi.revokeToken,
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: accountKeys.tokens });
      toast("Token revoked.");
    },
  });
  return (
    <Card>
      <CardHeader className="flex flex-row flex-wrap items-start justify-between gap-3">
        <div>
          <CardTitle className="flex items-center gap-2">
            <KeyRound className="size-4" /> API tokens
          </CardTitle>
          <CardDescription>Personal tokens for scripts and the CLI, limited to the scopes you choose.</CardDescription>
        </div>
        <Button size="sm" onClick={() => setOpen(true)} data-testid="token-new">
          <Plus /> New token
        </Button>
      </CardHeader>
      <CardContent>
        {tokens.isPending ? (
          <Skeleton className="h-16 w-full" />
        ) : tokens.isError ? (
          <ErrorState error={tokens.error} onRetry={() => void tokens.refetch()} />
        ) : tokens.data.length === 0 ? (
          <EmptyState icon={KeyRound} title="No API tokens" description="Create one for a script or the CLI." />
        ) : (
          <Table data-testid="tokens-table">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Token</TableHead>
                <TableHead>Scopes</TableHead>
                <TableHead>Last used</TableHead>
                <TableHead>Expires</TableHead>
                <TableHead className="w-px" />
              </TableRow>
            </TableHeader>
            <TableBody>
              {tokens.data.map((t) => (
                <TableRow key={t.id} data-testid="token-row">
                  <TableCell className="font-medium">{t.name}</TableCell>
                  <TableCell className="font-mono text-xs">{t.prefix}…</TableCell>
                  <TableCell>
                    <span className="text-xs text-muted-foreground" title={t.scopes.join("\n")}>
                      {t.scopes.length <= 2 ? t.scopes.join(", ") : `${t.scopes.length} scopes`}
                    </span>
                  </TableCell>
                  <TableCell>{t.last_used_at ? formatRelative(t.last_used_at) : "Never"}</TableCell>
                  <TableCell>
                    {t.expired ? (
                      <Badge tone="danger">Expired</Badge>
                    ) : t.expires_at ? (
                      formatDateTime(t.expires_at).slice(0, 10)
                    ) : (
                      "Never"
                    )}
                  </TableCell>
                  <TableCell>
                    <Button
                      variant="ghost"
                      size="sm"
                      aria-label={`Revoke ${t.name}`}
                      disabled={revoke.isPending}
                      onClick={() => revoke.mutate(t.id)}
                      data-testid="token-revoke"
                    >
                      <Trash2 /> Revoke
                    </Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </CardContent>
      <CreateTokenDialog open={open} onOpenChange={setOpen} permissions={permissions} />
    </Card>
  );
}

// ---------------------------------------------------------------- quota

/** What my services take, against my quota (only shown when the quota binds me). */
function QuotaCard() {
  const quota = useMyQuota();
  return (
    <Card data-testid="my-quota-card">
      <CardHeader>
        <CardTitle className="flex items-center gap-2">
          <Gauge className="size-4" /> Quota
        </CardTitle>
        <CardDescription>What your services may take in total. Ask an admin for more.</CardDescription>
      </CardHeader>
      <CardContent>
        {quota.isPending ? (
          <Skeleton className="h-28 w-full" />
        ) : quota.isError ? (
          <ErrorState error={quota.error} title="Couldn't load your quota" onRetry={() => void quota.refetch()} />
        ) : (
          <QuotaUsage quota={quota.data} />
        )}
      </CardContent>
    </Card>
  );
}

// ---------------------------------------------------------------- page

export function AccountPage() {
  usePageTitle("Account");
  const me = useMe();
  const mfa = useMfaStatus();
  if (me.isPending) return <Skeleton className="h-64 w-full" />;
  if (me.isError) return <ErrorState error={me.error} onRetry={() => void me.refetch()} />;
  const user = me.data;
  const canTokens = user.permissions?.includes("tokens:manage") ?? false;
  // Admins and holders of services:privileged are not bound by quotas.
  const boundByQuota = (user.permissions?.includes("services:create") ?? false) && !(user.permissions?.includes("services:privileged") ?? false);
  return (
    <div className="space-y-5" data-testid="account-page">
      <PageHeader description={`Security settings of ${user.email}`} />
      {user.mfa_enrollment_required && (
        <div
          role="alert"
          data-testid="mfa-required-banner"
          className="flex gap-2 rounded-md border border-amber-300/60 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-200"
        >
          <AlertTriangle className="mt-0.5 size-4 shrink-0" />
          <span>Your role requires two-factor authentication. Set it up below to use the rest of Dockyard.</span>
        </div>
      )}
      <MfaCard email={user.email} required={user.mfa_enrollment_required ?? false} />
      <PasswordCard mfaEnabled={mfa.data?.enabled ?? false} />
      <SessionsCard />
      {boundByQuota && <QuotaCard />}
      {canTokens && <TokensCard permissions={user.permissions ?? []} />}
    </div>
  );
}
