import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { toast } from "sonner";
import { api, call } from "@/api/client";
import { session } from "@/api/session";
import type { LoginBody } from "@/api/types";

export type AuthStatus = "loading" | "authenticated" | "anonymous" | "unreachable";

interface AuthContextValue {
  status: AuthStatus;
  login: (body: LoginBody) => Promise<void>;
  logout: () => Promise<void>;
  retryBootstrap: () => void;
}

const AuthContext = createContext<AuthContextValue | null>(null);

type BootResult = "ok" | "unreachable";
let bootPromise: Promise<BootResult> | null = null;

/** On load with a refresh token present, refresh once to get an access token (shared across StrictMode re-runs). */
function bootstrap(): Promise<BootResult> {
  bootPromise ??= session.refresh().then(
    () => "ok" as const,
    () => "unreachable" as const,
  );
  return bootPromise;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const authed = useSyncExternalStore(session.subscribe, () => session.isAuthenticated());
  const [boot, setBoot] = useState<"pending" | BootResult>(() =>
    session.isAuthenticated() || !session.hasRefreshToken() ? "ok" : "pending",
  );

  useEffect(() => {
    if (boot !== "pending") return;
    let alive = true;
    void bootstrap().then((r) => alive && setBoot(r));
    return () => {
      alive = false;
    };
  }, [boot]);

  useEffect(
    () =>
      session.onAuthFailure(() => {
        queryClient.clear();
        toast.info("Your session has ended. Please sign in again.", { id: "session-ended" });
      }),
    [queryClient],
  );

  const retryBootstrap = useCallback(() => {
    bootPromise = null;
    setBoot("pending");
  }, []);

  const login = useCallback(
    async (body: LoginBody) => {
      const pair = await call(api.POST("/api/v1/auth/login", { body }));
      queryClient.clear();
      session.setTokens(pair);
      setBoot("ok");
    },
    [queryClient],
  );

  const logout = useCallback(async () => {
    const refreshToken = session.getRefreshToken();
    try {
      await call(api.POST("/api/v1/auth/logout", { body: refreshToken ? { refresh_token: refreshToken } : {} }));
    } catch {
      /* the local session ends regardless */
    } finally {
      session.clear();
      queryClient.clear();
    }
  }, [queryClient]);

  let status: AuthStatus;
  if (authed) status = "authenticated";
  else if (boot === "pending") status = "loading";
  else if (boot === "unreachable" && session.hasRefreshToken()) status = "unreachable";
  else status = "anonymous";

  const value = useMemo(() => ({ status, login, logout, retryBootstrap }), [status, login, logout, retryBootstrap]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthContextValue {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth must be used inside AuthProvider");
  return ctx;
}
