import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { TooltipProvider } from "@/components/ui/tooltip";
import { ConfigPage } from "./ConfigPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const snapshot = (id: number, source: string) => ({
  id,
  parent_id: id > 1 ? id - 1 : null,
  source,
  actor_label: "admin@example.com",
  sha256: "0".repeat(64),
  size: 100,
  summary: id > 1 ? "added hosts a.example.com" : "",
  created_at: "2026-01-01T00:00:00Z",
});

function renderPage(handler: (req: Request) => Promise<Response> | Response) {
  const fetchMock = vi.fn(async (req: Request) => handler(req));
  vi.stubGlobal("fetch", fetchMock);
  const router = createMemoryRouter([{ path: "/configuration", element: <ConfigPage /> }], { initialEntries: ["/configuration"] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return fetchMock;
}

describe("ConfigPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("previews an import as a dry run, shows errors by path, and diffs snapshots", async () => {
    const bodies: string[] = [];
    const fetchMock = renderPage(async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/api/v1/config/snapshots") return json({ items: [snapshot(2, "api"), snapshot(1, "system")], total: 2, limit: 100, offset: 0 });
      if (url.pathname === "/api/v1/config/snapshots/diff") {
        return json({ from_id: 1, to_id: 2, changes: [{ kind: "hosts", name: "a.example.com", change: "added" }], diff: "--- snapshot 1\n+++ snapshot 2\n+  - address: 10.0.0.1" });
      }
      if (url.pathname === "/api/v1/config/import") {
        const text = await req.text();
        bodies.push(`${url.searchParams.get("dry_run")}:${text}`);
        if (text.includes("colour")) {
          return json({ error: { code: "config_invalid", message: "Invalid configuration at kinds.hosts[0].colour: unknown field.", details: { errors: [{ path: "kinds.hosts[0].colour", message: "unknown field" }] } } }, 422);
        }
        return json({ changes: [{ kind: "hosts", name: "b.example.com", change: "added" }], dry_run: true, snapshot_id: null });
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const diff = await screen.findByTestId("snapshot-diff");
    expect(within(diff).getByText("a.example.com")).toBeTruthy();
    expect(screen.getByTestId("snapshot-diff-text").textContent).toContain("address: 10.0.0.1");

    const text = screen.getByTestId("config-import-text");
    fireEvent.change(text, { target: { value: "version: 1\nkinds:\n  hosts:\n  - {hostname: b.example.com, colour: red}\n" } });
    fireEvent.click(screen.getByTestId("config-preview"));
    expect((await screen.findByTestId("import-error")).textContent).toContain("kinds.hosts[0].colour: unknown field");

    fireEvent.change(text, { target: { value: "version: 1\nkinds:\n  hosts:\n  - {hostname: b.example.com, address: 10.0.0.2}\n" } });
    fireEvent.click(screen.getByTestId("config-preview"));
    const plan = await screen.findByTestId("plan-changes");
    expect(within(plan).getByText("b.example.com")).toBeTruthy();
    expect(within(plan).getByText("added")).toBeTruthy();
    expect(bodies.every((b) => b.startsWith("true:"))).toBe(true);
    expect(screen.getByTestId("config-apply").textContent).toContain("Apply 1 change(s)");
    expect(fetchMock).toHaveBeenCalled();
  });
});
