import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { HostKeyScanOut, HostSshOut, SshCredentialOut } from "@/api/ssh";
import { HostSshPanel } from "./HostSshPanel";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const me = { id: 1, email: "admin@example.com", role: "admin", permissions: ["hosts:read", "hosts:manage", "hosts:ssh"], sees_all_services: true };

const credential: SshCredentialOut = {
  id: 3,
  name: "deploy key",
  username: "deploy",
  auth_type: "key",
  has_secret: true,
  key_type: "ssh-ed25519",
  key_fingerprint: "SHA256:clientkey",
  public_key: "ssh-ed25519 AAAA",
  host_count: 1,
  created_by_label: "admin@example.com",
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

const bare: HostSshOut = { host_id: 7, credential: null, host_key: null, bastion: null, problems: ["No SSH credential is assigned to this host.", "The host key is not trusted yet: scan it and confirm its fingerprint."], idle_timeout_s: 900 };

function renderPanel(handler: (req: Request) => Promise<Response> | Response) {
  const fetchMock = vi.fn(async (req: Request) => {
    if (new URL(req.url).pathname === "/api/v1/auth/me") return json(me);
    return handler(req);
  });
  vi.stubGlobal("fetch", fetchMock);
  render(
    <QueryClientProvider client={createQueryClient()}>
      <HostSshPanel hostId={7} hostname="web-1.example.com" />
    </QueryClientProvider>,
  );
  return fetchMock;
}

describe("HostSshPanel", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("creates and assigns a credential, never echoing the key back", async () => {
    let state: HostSshOut = bare;
    const sent: unknown[] = [];
    renderPanel(async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/api/v1/hosts/7/ssh") return json(state);
      if (url.pathname === "/api/v1/ssh-credentials" && req.method === "GET") return json({ items: state.credential ? [credential] : [] });
      if (url.pathname === "/api/v1/ssh-credentials" && req.method === "POST") {
        sent.push(await req.json());
        return json(credential, 201);
      }
      if (url.pathname === "/api/v1/hosts/7/ssh-credential") {
        sent.push(await req.json());
        state = { ...bare, credential, problems: [bare.problems[1]!] };
        return json(state);
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const panel = await screen.findByTestId("host-ssh-panel");
    expect(within(panel).getByTestId("host-ssh-problems").textContent).toContain("No SSH credential");
    expect((within(panel).getByTestId("host-terminal-open") as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(within(panel).getByTestId("host-ssh-credential-new"));
    const dialog = await screen.findByTestId("ssh-credential-dialog");
    fireEvent.change(within(dialog).getByTestId("ssh-cred-name"), { target: { value: "deploy key" } });
    fireEvent.change(within(dialog).getByTestId("ssh-cred-user"), { target: { value: "deploy" } });
    fireEvent.change(within(dialog).getByTestId("ssh-cred-key"), { target: { value: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n" } });
    fireEvent.click(within(dialog).getByTestId("ssh-cred-save"));

    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[0]).toMatchObject({ name: "deploy key", username: "deploy", auth_type: "key", passphrase: null });
    expect(sent[1]).toEqual({ credential_id: 3 });
    await waitFor(() => expect((within(panel).getByTestId("host-terminal-open") as HTMLButtonElement).disabled).toBe(false));
    expect(panel.textContent).toContain("ssh-ed25519 SHA256:clientkey");
    expect(panel.textContent).not.toContain("BEGIN OPENSSH");
  });

  it("asks to trust a new host key and shows a mismatch without a trust button", async () => {
    const ready: HostSshOut = { ...bare, credential, problems: [bare.problems[1]!] };
    let scan: HostKeyScanOut = { address: "10.0.0.11", port: 22, key_type: "ssh-ed25519", fingerprint: "SHA256:newkey", public_key: "ssh-ed25519 AAAA", status: "new", trusted_fingerprint: null };
    const trusted: string[] = [];
    renderPanel(async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/api/v1/hosts/7/ssh") return json(ready);
      if (url.pathname === "/api/v1/ssh-credentials") return json({ items: [credential] });
      if (url.pathname === "/api/v1/hosts/7/ssh-hostkey/scan") return json(scan);
      if (url.pathname === "/api/v1/hosts/7/ssh-hostkey/trust") {
        trusted.push(((await req.json()) as { fingerprint: string }).fingerprint);
        return json({ error: { code: "ssh_hostkey_changed", message: "The host now presents another key", details: {} } }, 409);
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const panel = await screen.findByTestId("host-ssh-panel");
    await waitFor(() => expect((within(panel).getByTestId("host-terminal-open") as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(within(panel).getByTestId("host-terminal-open"));
    const dialog = await screen.findByTestId("ssh-hostkey-dialog");
    expect(within(dialog).getByTestId("ssh-hostkey-fingerprint").textContent).toBe("SHA256:newkey");
    fireEvent.click(within(dialog).getByTestId("ssh-hostkey-trust"));
    await waitFor(() => expect(trusted).toEqual(["SHA256:newkey"]));
    expect(screen.queryByTestId("ssh-terminal-dialog")).toBeNull();

    fireEvent.click(within(dialog).getByText("Cancel"));
    scan = { ...scan, status: "mismatch", trusted_fingerprint: "SHA256:oldkey" };
    fireEvent.click(within(panel).getByTestId("host-terminal-open"));
    const mismatch = await screen.findByTestId("ssh-hostkey-dialog");
    await waitFor(() => expect(mismatch.textContent).toContain("Host key mismatch"));
    expect(within(mismatch).getByTestId("ssh-hostkey-trusted").textContent).toContain("SHA256:oldkey");
    expect(within(mismatch).queryByTestId("ssh-hostkey-trust")).toBeNull();
  });
});
