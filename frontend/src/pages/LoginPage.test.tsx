import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { REFRESH_TOKEN_KEY, session } from "@/api/session";
import { AuthProvider } from "@/auth/AuthProvider";
import { LoginPage } from "./LoginPage";

function renderLogin(fetchImpl: (req: Request) => Promise<Response>) {
  vi.stubGlobal("fetch", vi.fn(fetchImpl));
  const router = createMemoryRouter(
    [
      { path: "/login", element: <LoginPage /> },
      { path: "/audit", element: <p>audit page</p> },
    ],
    { initialEntries: ["/login?next=%2Faudit"] },
  );
  render(
    <QueryClientProvider client={createQueryClient()}>
      <AuthProvider>
        <RouterProvider router={router} />
      </AuthProvider>
    </QueryClientProvider>,
  );
  return router;
}

function submit(email: string, password: string) {
  fireEvent.change(screen.getByTestId("login-email"), { target: { value: email } });
  fireEvent.change(screen.getByTestId("login-password"), { target: { value: password } });
  fireEvent.click(screen.getByTestId("login-submit"));
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

describe("LoginPage", () => {
  afterEach(() => {
    cleanup(); // unmount before clearing the session so no update lands outside act()
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
    session.clear();
  });

  it("shows how long a locked account is locked, inline", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    renderLogin(async () =>
      json(423, { error: { code: "account_locked", message: "Account locked.", details: { retry_after_s: 840 } } }),
    );
    expect(screen.getByTestId("login-email")).toHaveFocus();
    expect(screen.getByTestId("login-email")).toHaveAttribute("autocomplete", "username");
    expect(screen.getByTestId("login-password")).toHaveAttribute("autocomplete", "current-password");
    submit("admin@example.com", "pw");
    expect(await screen.findByTestId("login-error")).toHaveTextContent("Try again in 14 minutes.");
    expect(screen.getByTestId("login-submit")).toBeEnabled();
    expect(screen.getByTestId("login-password")).toHaveValue("");
  });

  it("shows the retry time when rate limited", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    renderLogin(async () => json(429, { error: { code: "rate_limited", message: "Slow down." } }, { "Retry-After": "30" }));
    submit("admin@example.com", "pw");
    expect(await screen.findByTestId("login-error")).toHaveTextContent("Try again in 30 seconds.");
  });

  it("stores the tokens and goes to `next` after a successful login", async () => {
    const router = renderLogin(async (req) => {
      expect(new URL(req.url).pathname).toBe("/api/v1/auth/login");
      expect(await req.json()).toEqual({ email: "admin@example.com", password: "pw" });
      return json(200, { access_token: "a1", refresh_token: "r1", token_type: "bearer", expires_in: 900 });
    });
    submit(" admin@example.com ", "pw");
    await waitFor(() => expect(router.state.location.pathname).toBe("/audit"));
    expect(session.getAccessToken()).toBe("a1");
    expect(localStorage.getItem(REFRESH_TOKEN_KEY)).toBe("r1");
  });

  it("asks for the MFA code when the server answers mfa_required, then signs in with it", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const bodies: unknown[] = [];
    const router = renderLogin(async (req) => {
      const body = (await req.json()) as { otp?: string };
      bodies.push(body);
      if (!body.otp) {
        return json(401, { error: { code: "mfa_required", message: "Enter the code.", details: {} } });
      }
      if (body.otp === "000000") {
        return json(401, {
          error: { code: "invalid_otp", message: "The code is wrong, expired or already used.", details: {} },
        });
      }
      return json(200, { access_token: "a2", refresh_token: "r2", token_type: "bearer", expires_in: 900 });
    });
    submit("admin@example.com", "pw");
    expect(await screen.findByTestId("login-mfa-step")).toHaveTextContent("admin@example.com");
    expect(screen.queryByTestId("login-error")).toBeNull();
    expect(screen.queryByTestId("login-password")).toBeNull();
    const otp = screen.getByTestId("login-otp");
    expect(otp).toHaveFocus();
    expect(otp).toHaveAttribute("autocomplete", "one-time-code");
    expect(screen.getByTestId("login-submit")).toHaveTextContent("Verify");

    fireEvent.change(otp, { target: { value: "000000" } });
    fireEvent.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("login-error")).toHaveTextContent("wrong, expired or already used");
    expect(screen.getByTestId("login-otp")).toHaveValue("");
    expect(session.getAccessToken()).toBeNull();

    fireEvent.change(screen.getByTestId("login-otp"), { target: { value: " 123456 " } });
    fireEvent.click(screen.getByTestId("login-submit"));
    await waitFor(() => expect(router.state.location.pathname).toBe("/audit"));
    expect(session.getAccessToken()).toBe("a2");
    expect(bodies).toEqual([
      { email: "admin@example.com", password: "pw" },
      { email: "admin@example.com", password: "pw", otp: "000000" },
      { email: "admin@example.com", password: "pw", otp: "123456" },
    ]);
  });

  it("goes back to the password step", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    renderLogin(async () => json(401, { error: { code: "mfa_required", message: "Enter the code.", details: {} } }));
    submit("admin@example.com", "pw");
    fireEvent.click(await screen.findByTestId("login-back"));
    expect(screen.getByTestId("login-password")).toHaveValue("");
    expect(screen.queryByTestId("login-otp")).toBeNull();
  });
});
