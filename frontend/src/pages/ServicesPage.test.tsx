import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, render, screen, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { ServiceOut } from "@/api/types";
import { TooltipProvider } from "@/components/ui/tooltip";
import { ServicesPage } from "./ServicesPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function service(over: Partial<ServiceOut>): ServiceOut {
  return {
    id: 1,
    name: "web",
    description: "",
    node_id: 1,
    owner_id: 1,
    labels: {},
    status: "running",
    drift: false,
    drift_reasons: [],
    revision: 1,
    deployed_revision: 1,
    deployed_at: "2025-01-01T00:00:00Z",
    containers_running: 1,
    containers_total: 1,
    containers: [],
    images: ["nginx:1.27"],
    ports: [{ host_ip: "0.0.0.0", host_port: 8080, container_port: 80, protocol: "tcp" }],
    active_job: null,
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
    ...over,
  };
}

const ADMIN_ME = { id: 1, email: "a@x", display_name: null, role: "admin", last_login_at: null, created_at: "2025-01-01T00:00:00Z", permissions: ["services:read", "services:create", "services:adopt", "services:deploy", "services:update", "services:delete"], sees_all_services: true };

function renderAt(url: string, services: ServiceOut[], me: object = ADMIN_ME) {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/services") return json({ items: services, total: services.length, limit: 500, offset: 0 });
      if (path === "/api/v1/nodes") return json({ items: [], total: 0, limit: 200, offset: 0 });
      if (path === "/api/v1/auth/me") return json(me);
      return json({ error: { code: "not_found", message: "nope" } }, 404);
    }),
  );
  const router = createMemoryRouter([{ path: "/services", element: <ServicesPage /> }], { initialEntries: [url] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
}

describe("ServicesPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists services with status, drift and port links", async () => {
    renderAt("/services", [
      service({ id: 1, name: "web" }),
      service({ id: 2, name: "db", status: "stopped", drift: true, drift_reasons: ["revision 2 is saved but revision 1 is deployed"], ports: [] }),
    ]);
    const rows = await screen.findAllByTestId("service-row");
    expect(rows).toHaveLength(2);
    expect(await screen.findByTestId("adopt-button")).toHaveAttribute("href", "/services/adopt");
    expect(within(rows[0]!).getByTestId("service-name-link")).toHaveAttribute("href", "/services/1");
    expect(within(rows[0]!).getByTestId("service-status")).toHaveTextContent("Running");
    expect(within(rows[0]!).getByRole("link", { name: "8080→80" })).toHaveAttribute("href", `http://${window.location.hostname}:8080`);
    expect(within(rows[1]!).getByTestId("service-status")).toHaveTextContent("Stopped");
    expect(within(rows[1]!).getByTestId("drift-badge")).toBeInTheDocument();
    // A stopped service offers start, a running one stop.
    expect(within(rows[0]!).getByTestId("action-stop")).toBeEnabled();
    expect(within(rows[1]!).getByTestId("action-start")).toBeEnabled();
  });

  it("filters by status from the URL", async () => {
    renderAt("/services?status=stopped", [service({ id: 1, name: "web" }), service({ id: 2, name: "db", status: "stopped" })]);
    const rows = await screen.findAllByTestId("service-row");
    expect(rows.map((r) => r.getAttribute("data-service"))).toEqual(["db"]);
  });

  it("offers create and import when there are no services", async () => {
    renderAt("/services", []);
    const empty = await screen.findByTestId("services-empty");
    expect(await within(empty).findByTestId("create-service-button")).toHaveAttribute("href", "/services/new");
    expect(within(empty).getByTestId("import-compose-button")).toHaveAttribute("href", "/services/new?mode=compose");
    expect(within(empty).getByTestId("adopt-button")).toHaveAttribute("href", "/services/adopt");
  });

  it("hides what the user may not do", async () => {
    renderAt("/services", [service({})], { ...ADMIN_ME, role: "viewer", permissions: ["services:read"] });
    await screen.findByText("web");
    expect(screen.queryByTestId("create-service-button")).toBeNull();
    expect(screen.queryByTestId("adopt-button")).toBeNull();
    expect(screen.queryByTestId("action-stop")).toBeNull();
    expect(screen.queryByTestId("action-restart")).toBeNull();
  });

  it("does not offer tenants to adopt containers", async () => {
    renderAt("/services", [service({})], { ...ADMIN_ME, role: "user", sees_all_services: false });
    expect(await screen.findByTestId("create-service-button")).toBeInTheDocument();
    expect(screen.queryByTestId("adopt-button")).toBeNull();
  });
});
