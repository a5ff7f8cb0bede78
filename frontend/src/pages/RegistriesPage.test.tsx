import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { shortDigest, type RegistryOut } from "@/api/registries";
import { TooltipProvider } from "@/components/ui/tooltip";
import { RegistriesPage } from "./RegistriesPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const registry: RegistryOut = {
  id: 3,
  name: "Private",
  url: "http://127.0.0.1:5001",
  host: "127.0.0.1:5001",
  insecure: true,
  username: "dockyard",
  has_secret: true,
  created_by_label: "admin@example.com",
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

function renderPage(handler: (req: Request) => Promise<Response> | Response) {
  const fetchMock = vi.fn(async (req: Request) => handler(req));
  vi.stubGlobal("fetch", fetchMock);
  const router = createMemoryRouter([{ path: "/registries", element: <RegistriesPage /> }], { initialEntries: ["/registries"] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return fetchMock;
}

describe("RegistriesPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists registries without any secret and tests a stored one", async () => {
    renderPage(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/registries") return json({ items: [registry] });
      if (path === "/api/v1/registries/3/test" && req.method === "POST") {
        return json({ error: { code: "registry_auth_failed", message: "Registry 127.0.0.1:5001: the registry refused the credentials (401 Unauthorized).", details: {} } }, 400);
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const row = await screen.findByTestId("registry-row");
    expect(within(row).getByText("http://127.0.0.1:5001")).toBeTruthy();
    expect(within(row).getByText("stored")).toBeTruthy();
    fireEvent.click(within(row).getByTestId("registry-row-test"));
    const result = await within(row).findByTestId("registry-test-result");
    expect(result.getAttribute("data-ok")).toBe("false");
    expect(result.textContent).toContain("refused the credentials");
  });

  it("adds a registry with a write-only password", async () => {
    const bodies: unknown[] = [];
    renderPage(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/registries" && req.method === "POST") {
        bodies.push(await req.json());
        return json(registry, 201);
      }
      if (path === "/api/v1/registries") return json({ items: [] });
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    fireEvent.click(await screen.findByTestId("registry-add"));
    const dialog = await screen.findByTestId("registry-dialog");
    fireEvent.change(within(dialog).getByTestId("registry-name"), { target: { value: "Private" } });
    fireEvent.change(within(dialog).getByTestId("registry-url"), { target: { value: "127.0.0.1:5001" } });
    fireEvent.change(within(dialog).getByTestId("registry-username"), { target: { value: "dockyard" } });
    const password = within(dialog).getByTestId("registry-password");
    expect(password.getAttribute("type")).toBe("password");
    fireEvent.change(password, { target: { value: "pw" } });
    fireEvent.click(within(dialog).getByTestId("registry-save"));
    await waitFor(() => expect(bodies).toHaveLength(1));
    expect(bodies[0]).toMatchObject({ name: "Private", url: "127.0.0.1:5001", username: "dockyard", password: "pw", verify: false });
  });
});

describe("shortDigest", () => {
  it("keeps 12 hex digits", () => {
    expect(shortDigest("sha256:0123456789abcdef0123")).toBe("0123456789ab");
    expect(shortDigest(null)).toBe("—");
  });
});
