import { Loader2, WifiOff } from "lucide-react";
import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { Button } from "@/components/ui/button";
import { Logo } from "@/components/Logo";
import { loginPath } from "@/lib/safeNext";
import { useAuth } from "./AuthProvider";

export function FullPageSpinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="flex min-h-svh items-center justify-center text-muted-foreground" role="status">
      <Loader2 className="mr-2 size-4 animate-spin" />
      <span>{label}</span>
    </div>
  );
}

export function RequireAuth({ children }: { children: ReactNode }) {
  const { status, retryBootstrap } = useAuth();
  const location = useLocation();

  if (status === "loading") return <FullPageSpinner label="Restoring your session…" />;
  if (status === "unreachable") {
    return (
      <div className="flex min-h-svh flex-col items-center justify-center gap-4 p-6 text-center">
        <Logo />
        <WifiOff className="mt-6 size-8 text-muted-foreground" />
        <div>
          <p className="font-medium">Can't reach the Dockyard server</p>
          <p className="mt-1 text-sm text-muted-foreground">Your session is kept. Check that the server is running, then retry.</p>
        </div>
        <Button onClick={retryBootstrap}>Retry</Button>
      </div>
    );
  }
  if (status === "anonymous") {
    return <Navigate to={loginPath(location.pathname + location.search + location.hash)} replace />;
  }
  return <>{children}</>;
}
