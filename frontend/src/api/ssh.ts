/** Web SSH to inventory hosts: credentials, a host's credential and trusted host key. */
import { useQuery } from "@tanstack/react-query";
import { api, call } from "./client";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type SshCredentialOut = Schemas["SshCredentialOut"];
export type SshCredentialCreate = Schemas["SshCredentialCreate"];
export type HostSshOut = Schemas["HostSshOut"];
export type HostKeyScanOut = Schemas["HostKeyScanOut"];

export const sshKeys = {
  all: ["ssh"] as const,
  credentials: () => ["ssh", "credentials"] as const,
  host: (id: number) => ["ssh", "host", id] as const,
};

const hid = (host_id: number) => ({ path: { host_id } });

export const sshApi = {
  credentials: (signal?: AbortSignal) => call(api.GET("/api/v1/ssh-credentials", { signal })),
  createCredential: (body: SshCredentialCreate) => call(api.POST("/api/v1/ssh-credentials", { body })),
  removeCredential: (id: number) => call(api.DELETE("/api/v1/ssh-credentials/{credential_id}", { params: { path: { credential_id: id } } })),
  host: (id: number, signal?: AbortSignal) => call(api.GET("/api/v1/hosts/{host_id}/ssh", { params: hid(id), signal })),
  assign: (id: number, credential_id: number | null) => call(api.PUT("/api/v1/hosts/{host_id}/ssh-credential", { params: hid(id), body: { credential_id } })),
  scan: (id: number) => call(api.POST("/api/v1/hosts/{host_id}/ssh-hostkey/scan", { params: hid(id) })),
  trust: (id: number, fingerprint: string) => call(api.POST("/api/v1/hosts/{host_id}/ssh-hostkey/trust", { params: hid(id), body: { fingerprint } })),
  forgetKey: (id: number) => call(api.DELETE("/api/v1/hosts/{host_id}/ssh-hostkey", { params: hid(id) })),
};

export function useHostSsh(id: number, enabled = true) {
  return useQuery({ queryKey: sshKeys.host(id), queryFn: ({ signal }) => sshApi.host(id, signal), enabled });
}

export function useSshCredentials(enabled = true) {
  return useQuery({ queryKey: sshKeys.credentials(), queryFn: ({ signal }) => sshApi.credentials(signal), enabled });
}

/** Messages the server sends on `WS /api/v1/hosts/{id}/ssh`. */
export type TerminalMessage =
  | { type: "status"; state: string; message: string }
  | { type: "connected"; user: string; host: string; port: number; hostname: string; fingerprint: string | null; key_type: string | null; idle_timeout_s: number; session_id: string }
  | { type: "output"; data: string }
  | { type: "exit"; exit_status: number | null }
  | { type: "error"; code: string; message: string; details?: Record<string, unknown> }
  | { type: "pong" };
