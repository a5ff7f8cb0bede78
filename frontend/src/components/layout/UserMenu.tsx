import { LogOut, ShieldCheck } from "lucide-react";
import { useEffect } from "react";
import { useLocation, useNavigate } from "react-router";
import { useMe } from "@/api/queries";
import { useAuth } from "@/auth/AuthProvider";
import { Badge } from "@/components/ui/badge";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu";
import { Skeleton } from "@/components/ui/skeleton";

export function initials(name: string | null | undefined, email: string | undefined): string {
  const source = (name ?? "").trim() || (email ?? "").split("@")[0] || "?";
  const parts = source.split(/[\s._-]+/).filter(Boolean);
  const letters = parts.length >= 2 ? `${parts[0]![0]}${parts[1]![0]}` : source.slice(0, 2);
  return letters.toUpperCase();
}

export function UserMenu() {
  const me = useMe();
  const { logout } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const user = me.data;
  const mustEnroll = user?.mfa_enrollment_required ?? false;

  // The role requires MFA and it is not set up: the server refuses everything else (403
  // `mfa_enrollment_required`), so take the user to where they can set it up.
  useEffect(() => {
    if (mustEnroll && location.pathname !== "/account") void navigate("/account", { replace: true });
  }, [mustEnroll, location.pathname, navigate]);

  const signOut = async () => {
    await logout();
    void navigate("/login", { replace: true });
  };

  return (
    <DropdownMenu>
      <DropdownMenuTrigger
        data-testid="user-menu"
        aria-label="Account menu"
        className="flex h-9 items-center gap-2 rounded-md px-1.5 outline-none transition-colors hover:bg-accent focus-visible:ring-2 focus-visible:ring-ring"
      >
        {user ? (
          <span className="flex size-7 items-center justify-center rounded-full bg-primary/15 text-[11px] font-semibold text-primary">
            {initials(user.display_name, user.email)}
          </span>
        ) : (
          <Skeleton className="size-7 rounded-full" />
        )}
        <span className="hidden max-w-40 truncate text-sm font-medium md:inline">
          {user ? (user.display_name ?? user.email) : ""}
        </span>
      </DropdownMenuTrigger>
      <DropdownMenuContent align="end" className="w-64">
        <DropdownMenuLabel className="font-normal">
          <p className="text-xs text-muted-foreground">Signed in as</p>
          <p className="mt-0.5 text-sm font-medium break-all text-foreground" data-testid="user-email">
            {user?.email ?? "…"}
          </p>
          <div className="mt-1.5 flex items-center gap-2">
            {user && (
              <Badge tone="accent" className="capitalize" data-testid="user-role">
                {user.role}
              </Badge>
            )}
            {user?.display_name && <span className="truncate text-xs text-muted-foreground">{user.display_name}</span>}
          </div>
        </DropdownMenuLabel>
        <DropdownMenuSeparator />
        <DropdownMenuItem data-testid="account-link" onSelect={() => void navigate("/account")}>
          <ShieldCheck /> Account &amp; security
        </DropdownMenuItem>
        <DropdownMenuItem data-testid="logout" onSelect={() => void signOut()}>
          <LogOut /> Sign out
        </DropdownMenuItem>
      </DropdownMenuContent>
    </DropdownMenu>
  );
}
