/** The signed-in user's own security settings: password, MFA, sessions, API tokens. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type MfaStatus = Schemas["MfaStatus"];
export type MfaEnrollment = Schemas["MfaEnrollment"];
export type LoginSessionOut = Schemas["SessionOut"];
export type ApiTokenOut = Schemas["TokenOut"];
export type ApiTokenCreated = Schemas["TokenCreated"];
export type ApiTokenCreate = Schemas["TokenCreate"];

export const accountKeys = {
  all: ["account"] as const,
  mfa: ["account", "mfa"] as const,
  sessions: ["account", "sessions"] as const,
  tokens: ["account", "tokens"] as const,
};

export const accountApi = {
  changePassword: (body: { current_password: string; new_password: string; otp?: string | null }) =>
    call(api.POST("/api/v1/auth/password", { body })),
  enroll: (password: string) => call(api.POST("/api/v1/auth/mfa/enroll", { body: { password } })),
  confirm: (code: string) => call(api.POST("/api/v1/auth/mfa/confirm", { body: { code } })),
  disable: (password: string, code: string) =>
    call(api.POST("/api/v1/auth/mfa/disable", { body: { password, code } })),
  revokeSession: (id: string) =>
    call(api.DELETE("/api/v1/auth/sessions/{session_id}", { params: { path: { session_id: id } } })),
  revokeOtherSessions: () => call(api.POST("/api/v1/auth/sessions/revoke-others")),
  createToken: (body: ApiTokenCreate) => call(api.POST("/api/v1/tokens", { body })),
  revokeToken: (id: number) => call(api.DELETE("/api/v1/tokens/{token_id}", { params: { path: { token_id: id } } })),
};

export function useMfaStatus() {
  return useQuery({
    queryKey: accountKeys.mfa,
    queryFn: ({ signal }) => call(api.GET("/api/v1/auth/mfa", { signal })),
  });
}

export function useMySessions() {
  return useQuery({
    queryKey: accountKeys.sessions,
    queryFn: ({ signal }) => call(api.GET("/api/v1/auth/sessions", { signal })),
    refetchInterval: 60_000,
  });
}

export function useMyTokens(enabled = true) {
  return useQuery({
    queryKey: accountKeys.tokens,
    queryFn: ({ signal }) => call(api.GET("/api/v1/tokens", { signal })),
    enabled,
  });
}
