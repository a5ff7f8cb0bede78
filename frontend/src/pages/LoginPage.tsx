import { useMutation } from "@tanstack/react-query";
import { AlertCircle, ArrowLeft, Loader2, ShieldCheck } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { isApiError, loginErrorText } from "@/api/errors";
import { useAuth } from "@/auth/AuthProvider";
import { FullPageSpinner } from "@/auth/RequireAuth";
import { Logo } from "@/components/Logo";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { usePageTitle } from "@/lib/pageTitle";
import { safeNext } from "@/lib/safeNext";

export function LoginPage() {
  usePageTitle("Sign in");
  const { status, login } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  // Second step when the account has MFA: the server answered `mfa_required`.
  const [step, setStep] = useState<"password" | "code">("password");
  const [otp, setOtp] = useState("");

  const mutation = useMutation({
    mutationFn: login,
    meta: { toast: false }, // errors are shown inline
    onSuccess: () => void navigate(next, { replace: true }),
    onError: (err) => {
      if (isApiError(err) && err.code === "mfa_required") {
        setStep("code");
        return;
      }
      setOtp("");
      if (step === "password") setPassword("");
    },
  });

  if (status === "loading") return <FullPageSpinner label="Restoring your session…" />;
  if (status === "authenticated" && !mutation.isPending && !mutation.isSuccess) return <Navigate to={next} replace />;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (mutation.isPending) return;
    if (step === "code") mutation.mutate({ email: email.trim(), password, otp: otp.trim() });
    else mutation.mutate({ email: email.trim(), password });
  };

  const backToPassword = () => {
    setStep("password");
    setOtp("");
    setPassword("");
    mutation.reset();
  };

  const mfaPrompt = mutation.isError && isApiError(mutation.error) && mutation.error.code === "mfa_required";
  const error = mutation.isError && !mfaPrompt ? loginErrorText(mutation.error) : null;

  return (
    <div className="flex min-h-svh flex-col items-center justify-center bg-background px-4 py-10">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center text-center">
          <Logo className="text-lg [&>span:first-child]:size-9 [&>span:first-child_svg]:size-5" />
          <p className="mt-3 text-sm text-muted-foreground">Sign in to your Docker command center</p>
        </div>
        <form
          onSubmit={onSubmit}
          className="space-y-4 rounded-xl border bg-card p-6 shadow-sm"
          aria-describedby={error ? "login-error" : undefined}
        >
          {step === "password" ? (
            <>
          <div className="space-y-1.5">
            <Label htmlFor="email">Email</Label>
            <Input
              id="email"
              name="email"
              type="email"
              inputMode="email"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              autoFocus
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              data-testid="login-email"
              aria-invalid={error ? true : undefined}
            />
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="password">Password</Label>
            <Input
              id="password"
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              data-testid="login-password"
              aria-invalid={error ? true : undefined}
            />
          </div>
            </>
          ) : (
            <div className="space-y-3" data-testid="login-mfa-step">
              <div className="flex gap-2 rounded-md border bg-muted/40 px-3 py-2 text-sm">
                <ShieldCheck className="mt-0.5 size-4 shrink-0 text-primary" />
                <span>
                  Two-factor authentication is on for <span className="font-medium">{email.trim()}</span>. Enter
                  the 6-digit code from your authenticator app, or one of your recovery codes.
                </span>
              </div>
              <div className="space-y-1.5">
                <Label htmlFor="otp">Authentication code</Label>
                <Input
                  id="otp"
                  name="otp"
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  autoCapitalize="none"
                  spellCheck={false}
                  autoFocus
                  required
                  maxLength={32}
                  placeholder="123456"
                  value={otp}
                  onChange={(e) => setOtp(e.target.value)}
                  data-testid="login-otp"
                  aria-invalid={error ? true : undefined}
                />
              </div>
            </div>
          )}
          {error && (
            <div
              id="login-error"
              role="alert"
              data-testid="login-error"
              className="flex gap-2 rounded-md border border-destructive/30 bg-destructive/10 px-3 py-2 text-sm text-destructive dark:text-red-300"
            >
              <AlertCircle className="mt-0.5 size-4 shrink-0" />
              <span>{error}</span>
            </div>
          )}
          <Button type="submit" className="w-full" disabled={mutation.isPending} data-testid="login-submit">
            {mutation.isPending && <Loader2 className="animate-spin" />}
            {mutation.isPending ? "Signing in…" : step === "code" ? "Verify" : "Sign in"}
          </Button>
          {step === "code" && (
            <Button
              type="button"
              variant="ghost"
              className="w-full"
              onClick={backToPassword}
              data-testid="login-back"
            >
              <ArrowLeft /> Use another account
            </Button>
          )}
        </form>
      </div>
    </div>
  );
}
