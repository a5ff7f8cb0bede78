import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { describeTarget, formatUptime, type HealthCheckOut } from "@/api/health";
import { TooltipProvider } from "@/components/ui/tooltip";
import { HealthPage } from "./HealthPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function check(over: Partial<HealthCheckOut>): HealthCheckOut {
  return {
    id: 1,
    name: "Storefront",
    kind: "http",
    target: { url: "http://127.0.0.1:8080/ok", method: "GET", headers: {} },
    interval_s: 60,
    timeout_s: 10,
    retries: 1,
    remediation: null,
    enabled: true,
    status: "up",
    consecutive_failures: 0,
    last_checked_at: new Date().toISOString(),
    last_latency_ms: 12.4,
    last_error: null,
    status_changed_at: null,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    uptime: { h24: 99.5, d7: 100, d30: null },
    ...over,
  };
}

function renderPage(handler: (req: Request) => Promise<Response> | Response) {
  const fetchMock = vi.fn(async (req: Request) => handler(req));
  vi.stubGlobal("fetch", fetchMock);
  const router = createMemoryRouter([{ path: "/health", element: <HealthPage /> }], { initialEntries: ["/health"] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return fetchMock;
}

describe("HealthPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("shows up and down checks with uptime and runs one now", async () => {
    const down = check({ id: 2, name: "Payments", kind: "tcp", target: { host: "db", port: 5432 }, status: "down", last_error: "connect failed" });
    const fetchMock = renderPage(async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/health-checks") return json({ items: [check({}), down] });
      if (path === "/api/v1/health-checks/2/run" && req.method === "POST") {
        return json({ id: 9, status: "down", latency_ms: null, error: "connect failed", remediation: null, checked_at: new Date().toISOString(), check_status: "down", transition: null });
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const rows = await screen.findAllByTestId("check-row");
    expect(rows).toHaveLength(2);
    const [first, second] = rows as [HTMLElement, HTMLElement];
    expect(within(first).getByTestId("check-status").getAttribute("data-status")).toBe("up");
    expect(within(first).getByTestId("uptime-24h").textContent).toBe("99.50 %");
    expect(within(second).getByTestId("check-status").getAttribute("data-status")).toBe("down");
    expect(within(second).getByText("connect failed")).toBeTruthy();
    expect(screen.getByTestId("health-down-count").textContent).toBe("1");
    fireEvent.click(within(second).getByTestId("check-run"));
    await waitFor(() => expect(fetchMock.mock.calls.some(([r]) => (r as Request).url.endsWith("/api/v1/health-checks/2/run"))).toBe(true));
  });

  it("formats uptime and targets", () => {
    expect(formatUptime(null)).toBe("—");
    expect(formatUptime(100)).toBe("100 %");
    expect(formatUptime(99.123)).toBe("99.12 %");
    expect(describeTarget({ kind: "docker", target: { service_id: 4 } })).toBe("service #4");
    expect(describeTarget({ kind: "tcp", target: { host: "db", port: 5432 } })).toBe("db:5432");
  });
});
