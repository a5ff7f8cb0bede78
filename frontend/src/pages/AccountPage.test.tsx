import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { AccountPage } from "./AccountPage";

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const ME = {
  id: 2,
  email: "ops@example.com",
  display_name: null,
  role: "operator",
  last_login_at: null,
  created_at: "2025-01-01T00:00:00Z",
  permissions: ["services:read", "nodes:read", "tokens:manage"],
  sees_all_services: true,
  mfa_enabled: false,
  mfa_enrollment_required: true,
  auth_kind: "session",
};
const CODES = Array.from({ length: 10 }, (_, i) => `aaaa-bbbb-cccc-${String(i).padStart(4, "d")}`);

function renderAccount(handle: (method: string, path: string, body: unknown) => Response | undefined) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
      const body: unknown = text ? JSON.parse(text) : null;
      calls.push({ method: req.method, path, body });
      const custom = handle(req.method, path, body);
      if (custom) return custom;
      if (path === "/api/v1/auth/me") return json(ME);
      if (path === "/api/v1/auth/mfa") return json({ enabled: false, confirmed_at: null, recovery_codes_left: 0 });
      if (path === "/api/v1/auth/sessions") return json([]);
      if (path === "/api/v1/tokens") return json([]);
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    }),
  );
  const router = createMemoryRouter([{ path: "/account", element: <AccountPage /> }], { initialEntries: ["/account"] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return calls;
}

describe("AccountPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it("enrolls MFA: password, QR and key, code, then the recovery codes once", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const calls = renderAccount((method, path, body) => {
      if (path === "/api/v1/auth/mfa/enroll") {
        if ((body as { password: string }).password !== "right-password") {
          return json({ error: { code: "reauthentication_failed", message: "The current password is incorrect.", details: {} } }, 403);
        }
        return json({
          secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
          otpauth_uri: "otpauth://totp/Dockyard:ops",
          qr_svg: "data:image/svg+xml;base64,PHN2Zy8+",
          digits: 6,
          period_s: 30,
        });
      }
      if (path === "/api/v1/auth/mfa/confirm") return json({ recovery_codes: CODES });
      return method === "POST" ? json({}, 500) : undefined;
    });
    expect(await screen.findByTestId("mfa-required-banner")).toHaveTextContent("requires two-factor");
    fireEvent.click(await screen.findByTestId("mfa-enroll"));
    fireEvent.change(screen.getByTestId("mfa-password"), { target: { value: "wrong" } });
    fireEvent.click(screen.getByTestId("mfa-start"));
    expect(await screen.findByTestId("mfa-error")).toHaveTextContent("incorrect");

    fireEvent.change(screen.getByTestId("mfa-password"), { target: { value: "right-password" } });
    fireEvent.click(screen.getByTestId("mfa-start"));
    expect(await screen.findByTestId("mfa-qr")).toHaveAttribute("src", "data:image/svg+xml;base64,PHN2Zy8+");
    expect(screen.getByTestId("mfa-secret")).toHaveTextContent("JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP");

    fireEvent.change(screen.getByTestId("mfa-code"), { target: { value: "123 456" } });
    fireEvent.click(screen.getByTestId("mfa-confirm"));
    const list = await screen.findByTestId("recovery-codes");
    expect(within(list).getAllByRole("listitem")).toHaveLength(10);
    expect(calls.find((c) => c.path === "/api/v1/auth/mfa/confirm")?.body).toEqual({ code: "123456" });
    fireEvent.click(screen.getByTestId("recovery-done"));
    await waitFor(() => expect(screen.queryByTestId("recovery-codes")).toBeNull());
  });

  it("creates a token with the chosen scopes and shows it once", async () => {
    const calls = renderAccount((method, path) => {
      if (method === "POST" && path === "/api/v1/tokens") {
        return json(
          {
            id: 1,
            name: "ci",
            prefix: "dy_pat_abcde",
            scopes: ["services:read"],
            created_at: "2025-01-01T00:00:00Z",
            expires_at: null,
            last_used_at: null,
            expired: false,
            token: "dy_pat_abcdefghijklmnop",
          },
          201,
        );
      }
      return undefined;
    });
    fireEvent.click(await screen.findByTestId("token-new"));
    expect(screen.getByTestId("token-create")).toBeDisabled();
    fireEvent.change(screen.getByTestId("token-name"), { target: { value: "ci" } });
    fireEvent.click(screen.getByTestId("scope-services:read"));
    fireEvent.change(screen.getByTestId("token-expiry"), { target: { value: "0" } });
    // Only the user's own permissions are offered.
    expect(screen.queryByTestId("scope-nodes:manage")).toBeNull();
    fireEvent.click(screen.getByTestId("token-create"));
    expect(await screen.findByTestId("new-token")).toHaveTextContent("dy_pat_abcdefghijklmnop");
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/tokens")?.body).toEqual({
      name: "ci",
      scopes: ["services:read"],
      expires_at: null,
    });
  });
});
