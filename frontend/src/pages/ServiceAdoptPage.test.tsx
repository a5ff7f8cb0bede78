import { QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { UnmanagedOut } from "@/api/types";
import { AdoptNotice } from "@/components/services/AdoptNotice";
import { TooltipProvider } from "@/components/ui/tooltip";
import { ServiceAdoptPage } from "./ServiceAdoptPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const NODES = {
  items: [
    { id: 1, name: "local", kind: "local", status: "online" },
    { id: 2, name: "edge", kind: "agent", status: "online" },
  ],
  total: 2,
  limit: 200,
  offset: 0,
};

const LISTING: UnmanagedOut = {
  projects: [
    {
      name: "shop",
      services: ["db", "web"],
      working_dir: "/srv/shop",
      config_files: ["/srv/shop/docker-compose.yml"],
      containers: [
        { id: "p1", name: "shop_db_1", service: "db", image: "postgres:16", state: "running" },
        { id: "p2", name: "shop_web_1", service: "web", image: "nginx:1.27", state: "exited" },
      ],
    },
  ],
  containers: [
    { id: "c1", name: "legacy-api", image: "acme/api:3", state: "running", ports: [{ host_ip: "0.0.0.0", host_port: 8081, container_port: 80, protocol: "tcp" }] },
    { id: "c2", name: "legacy-cache", image: "redis:7", state: "running", ports: [] },
  ],
};

const ADOPTED = { id: 42, name: "shop", job: { id: "job-1", kind: "service.deploy", status: "queued", service_id: 42 }, warnings: [] as string[] };

type Handler = (req: Request, body: unknown) => Response | undefined;

function renderPage(adopt: Handler, listing: UnmanagedOut = LISTING) {
  const posted: unknown[] = [];
  const listed: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/nodes") return json(NODES);
      const m = /^\/api\/v1\/nodes\/(\d+)\/unmanaged$/.exec(path);
      if (m) {
        listed.push(m[1]!);
        return json(listing);
      }
      if (path === "/api/v1/services/adopt" && req.method === "POST") {
        const body: unknown = await req.json();
        posted.push(body);
        return adopt(req, body) ?? json({ ...ADOPTED }, 201);
      }
      return json({ error: { code: "not_found", message: "nope" } }, 404);
    }),
  );
  const router = createMemoryRouter(
    [
      { path: "/services/adopt", element: <ServiceAdoptPage /> },
      {
        path: "/services/:id",
        element: (
          <div data-testid="service-page">
            <AdoptNotice />
          </div>
        ),
      },
    ],
    { initialEntries: ["/services/adopt"] },
  );
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return { posted, listed, router };
}

describe("ServiceAdoptPage", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("lists compose projects and standalone containers of the local node", async () => {
    const { listed } = renderPage(() => undefined);
    const card = await screen.findByTestId("unmanaged-project");
    expect(card).toHaveAttribute("data-project", "shop");
    expect(card).toHaveTextContent("postgres:16");
    expect(card).toHaveTextContent("/srv/shop");
    expect(within(card).getAllByTestId("container-state").map((b) => b.textContent)).toEqual(["Running", "Exited"]);
    expect(screen.getAllByTestId("unmanaged-container").map((r) => r.getAttribute("data-container"))).toEqual(["legacy-api", "legacy-cache"]);
    expect(screen.getByTestId("adopt-node")).toHaveValue("1");
    expect(listed).toEqual(["1"]);
    expect(screen.getByTestId("adopt-containers")).toBeDisabled();
  });

  it("adopts a project under its own name and opens the service", async () => {
    const { posted, router } = renderPage(() => json({ ...ADOPTED, warnings: ["docker-compose 1.x does not record `depends_on`"] }, 201));
    fireEvent.click(await screen.findByTestId("adopt-project"));
    const dialog = await screen.findByTestId("adopt-dialog");
    expect(dialog).toHaveTextContent("volumes and published ports are kept; the containers get new IDs");
    expect(within(dialog).getByTestId("adopt-name")).toHaveValue("shop");
    fireEvent.click(within(dialog).getByTestId("adopt-submit"));
    await waitFor(() => expect(router.state.location.pathname).toBe("/services/42"));
    expect(posted).toEqual([{ project: "shop", name: "shop", node_id: 1 }]);
    const notes = await screen.findByTestId("adopt-warnings");
    expect(notes).toHaveTextContent("Adopted compose project shop, with 1 note");
    expect(notes).toHaveTextContent("does not record `depends_on`");
  });

  it("validates the name like the server and shows the server's 422 on the field", async () => {
    const { posted } = renderPage(() =>
      json({ error: { code: "validation_error", message: "Invalid", details: { errors: [{ path: "body.name", message: "reserved name" }] } } }, 422),
    );
    fireEvent.click(await screen.findByTestId("adopt-project"));
    const dialog = await screen.findByTestId("adopt-dialog");
    const name = within(dialog).getByTestId("adopt-name");
    fireEvent.change(name, { target: { value: "-shop" } });
    expect(within(dialog).getByTestId("field-error")).toHaveTextContent(/lower-case/i);
    expect(within(dialog).getByTestId("adopt-submit")).toBeDisabled();
    fireEvent.change(name, { target: { value: "store" } });
    expect(within(dialog).getByTestId("adopt-rename-note")).toHaveTextContent("move from compose project shop to store");
    fireEvent.click(within(dialog).getByTestId("adopt-submit"));
    expect(await within(dialog).findByTestId("field-error")).toHaveTextContent("reserved name");
    expect(posted).toEqual([{ project: "shop", name: "store", node_id: 1 }]);
  });

  it("adopts selected standalone containers as one named service", async () => {
    const { posted, router } = renderPage(() => undefined);
    const rows = await screen.findAllByTestId("unmanaged-container");
    fireEvent.click(within(rows[1]!).getByRole("checkbox"));
    fireEvent.click(rows[0]!); // the whole row toggles
    const adopt = screen.getByTestId("adopt-containers");
    expect(adopt).toBeEnabled();
    fireEvent.click(adopt);
    const dialog = await screen.findByTestId("adopt-dialog");
    expect(dialog).toHaveTextContent("Adopt 2 containers as one service");
    const name = within(dialog).getByTestId("adopt-name");
    expect(name).toHaveValue("legacy-api");
    fireEvent.change(name, { target: { value: "legacy" } });
    fireEvent.change(within(dialog).getByTestId("adopt-description"), { target: { value: "Old stack" } });
    fireEvent.click(within(dialog).getByTestId("adopt-submit"));
    await waitFor(() => expect(router.state.location.pathname).toBe("/services/42"));
    expect(posted).toEqual([{ container_ids: ["c1", "c2"], name: "legacy", node_id: 1, description: "Old stack" }]);
    // No warnings: no notes panel.
    expect(screen.queryByTestId("adopt-warnings")).toBeNull();
  });

  it("switches node", async () => {
    const { listed } = renderPage(() => undefined);
    await screen.findByTestId("unmanaged-project");
    await act(async () => {
      fireEvent.change(screen.getByTestId("adopt-node"), { target: { value: "2" } });
    });
    await waitFor(() => expect(listed).toEqual(["1", "2"]));
  });

  it("says so when there is nothing to adopt", async () => {
    renderPage(() => undefined, { projects: [], containers: [] });
    const empty = await screen.findByTestId("adopt-empty");
    expect(empty).toHaveTextContent("Nothing to adopt");
    expect(empty).toHaveTextContent("Every container on local is managed by Dockyard.");
  });
});
