import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { NodeView } from "@/api/nodes";
import { createQueryClient } from "@/api/queryClient";
import { TooltipProvider } from "@/components/ui/tooltip";
import { NodeDetailPage } from "../NodeDetailPage";
import { NodesPage } from "../NodesPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const notFound = () => json({ error: { code: "not_found", message: "nope", details: {} } }, 404);

const engine = {
  reachable: true,
  error: null,
  checked_at: new Date().toISOString(),
  server_version: "27.3.1",
  api_version: "1.47",
  os: "Debian",
  os_type: "linux",
  kernel_version: "6.1",
  architecture: "x86_64",
  storage_driver: "overlay2",
  docker_root_dir: "/var/lib/docker",
  name: "host",
  cpus: 8,
  memory_bytes: 16 * 1024 ** 3,
  containers: 5,
  containers_running: 3,
  containers_paused: 0,
  containers_stopped: 2,
  images: 10,
};
const deadEngine = { ...engine, reachable: false, error: "Node edge is offline", server_version: null, cpus: null, memory_bytes: null, containers: null };

function node(over: Partial<NodeView> = {}): NodeView {
  return {
    id: 1,
    name: "local",
    kind: "local",
    docker_host: "unix:///var/run/docker.sock",
    labels: {},
    status: "online",
    last_seen: new Date(Date.now() - 3_000).toISOString(),
    created_at: "2026-01-01T00:00:00Z",
    engine,
    agent: null,
    revoked_at: null,
    enrolled: true,
    enrollment_expires_at: null,
    ...over,
  } as NodeView;
}

const pending = node({
  id: 7,
  name: "edge-7",
  kind: "agent",
  docker_host: "unix:///data/agents/node-7.sock",
  status: "offline",
  last_seen: null,
  engine: deadEngine,
  enrolled: false,
  enrollment_expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  labels: { zone: "eu" },
});
const offline = node({
  id: 8,
  name: "edge-8",
  kind: "agent",
  docker_host: "unix:///data/agents/node-8.sock",
  status: "offline",
  last_seen: new Date(Date.now() - 125_000).toISOString(),
  engine: deadEngine,
  agent: { version: "0.5.0", connected_at: null, last_seen: new Date(Date.now() - 125_000).toISOString(), remote_addr: "10.0.0.8", docker_host: "unix:///var/run/docker.sock", hostname: "edge8" },
});

type Handler = (req: Request, path: string) => Promise<Response | undefined> | Response | undefined;

function renderAt(path: string, handler: Handler, permissions = ["nodes:read", "nodes:manage", "services:read"]) {
  const fetchMock = vi.fn(async (req: Request) => {
    const p = new URL(req.url).pathname;
    if (p === "/api/v1/auth/me") return json({ id: 1, email: "a@example.com", role: "admin", permissions });
    return (await handler(req, p)) ?? notFound();
  });
  vi.stubGlobal("fetch", fetchMock);
  const router = createMemoryRouter(
    [
      { path: "/nodes", element: <NodesPage /> },
      { path: "/nodes/:id", element: <NodeDetailPage /> },
    ],
    { initialEntries: [path] },
  );
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return { fetchMock, router };
}

describe("NodesPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists nodes with their state, agent version, labels and last seen", async () => {
    renderAt("/nodes", (_req, p) => (p === "/api/v1/nodes" ? json({ items: [node(), pending, offline], total: 3, limit: 200, offset: 0 }) : undefined));
    const rows = await screen.findAllByTestId("node-row");
    expect(rows.map((r) => r.getAttribute("data-state"))).toEqual(["online", "pending", "offline"]);
    expect(within(rows[0]!).getByText("27.3.1")).toBeTruthy();
    expect(within(rows[0]!).getByTestId("node-last-seen").textContent).toMatch(/^last seen \d s ago$/);
    expect(within(rows[1]!).getByTestId("node-status").textContent).toContain("Waiting for agent");
    expect(within(rows[1]!).getByText("zone=eu")).toBeTruthy();
    expect(within(rows[2]!).getByTestId("node-agent-version").textContent).toBe("0.5.0");
    expect(within(rows[2]!).getByTestId("node-last-seen").textContent).toBe("last seen 2 min ago");
    expect(screen.getByText(/3 nodes · 1 online/)).toBeTruthy();
  });

  it("adds a node and shows the token once with the command", async () => {
    const bodies: unknown[] = [];
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    renderAt("/nodes", async (req, p) => {
      if (p === "/api/v1/nodes" && req.method === "POST") {
        bodies.push(await req.json());
        return json({ ...pending, name: "edge-9", enrollment_token: "dye_" + "s".repeat(60), enrollment_expires_at: expires, agent_command: null }, 201);
      }
      if (p === "/api/v1/nodes") return json({ items: [node()], total: 1, limit: 200, offset: 0 });
      return undefined;
    });
    fireEvent.click(await screen.findByTestId("node-add"));
    const dialog = await screen.findByTestId("add-node-dialog");
    fireEvent.change(within(dialog).getByTestId("node-form-name"), { target: { value: " edge-9 " } });
    fireEvent.change(within(dialog).getByTestId("node-form-labels"), { target: { value: "zone=eu\nbad" } });
    expect(within(dialog).getByTestId("node-form-label-errors").textContent).toContain("Line 2");
    expect((within(dialog).getByTestId("add-node-submit") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(within(dialog).getByTestId("node-form-labels"), { target: { value: "zone=eu\ngpu=true" } });
    fireEvent.click(within(dialog).getByTestId("add-node-submit"));

    const token = await within(dialog).findByTestId("enrollment-token");
    expect(bodies).toEqual([{ name: "edge-9", labels: { zone: "eu", gpu: "true" } }]);
    expect(token.textContent).toBe("dye_" + "s".repeat(60));
    expect(within(dialog).getByTestId("enrollment-command").textContent).toBe(
      `dockyard agent --server ${window.location.origin} --token dye_${"s".repeat(60)} --docker-host unix:///var/run/docker.sock --data-dir /var/lib/dockyard-agent`,
    );
    expect(within(dialog).getByTestId("enrollment-warning").textContent).toContain("not shown again");
    expect(within(dialog).getByTestId("enrollment-expiry").textContent).toMatch(/expires in (59|60) min/);
    expect(within(dialog).getByTestId("enrollment-unit").textContent).not.toContain("dye_");
    fireEvent.click(within(dialog).getByTestId("add-node-done"));
    await waitFor(() => expect(screen.queryByTestId("add-node-dialog")).toBeNull());
  });

  it("shows a 409 from create inside the dialog", async () => {
    renderAt("/nodes", (req, p) => {
      if (p === "/api/v1/nodes" && req.method === "POST") return json({ error: { code: "node_exists", message: "A node named local already exists.", details: {} } }, 409);
      if (p === "/api/v1/nodes") return json({ items: [node()], total: 1, limit: 200, offset: 0 });
      return undefined;
    });
    fireEvent.click(await screen.findByTestId("node-add"));
    const dialog = await screen.findByTestId("add-node-dialog");
    fireEvent.change(within(dialog).getByTestId("node-form-name"), { target: { value: "local" } });
    fireEvent.click(within(dialog).getByTestId("add-node-submit"));
    expect((await within(dialog).findByTestId("node-form-error")).textContent).toContain("already exists");
    expect(within(dialog).queryByTestId("enrollment-token")).toBeNull();
  });

  it("hides Add node without nodes:manage", async () => {
    renderAt("/nodes", (_req, p) => (p === "/api/v1/nodes" ? json({ items: [node()], total: 1, limit: 200, offset: 0 }) : undefined), ["nodes:read"]);
    await screen.findAllByTestId("node-row");
    await waitFor(() => expect(screen.queryByTestId("node-add")).toBeNull());
  });
});

describe("NodeDetailPage", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("a pending node waits for its agent and issues a new token on request", async () => {
    const calls: string[] = [];
    renderAt("/nodes/7", (req, p) => {
      if (p === "/api/v1/nodes/7") return json(pending);
      if (p === "/api/v1/services") return json({ items: [], total: 0, limit: 500, offset: 0 });
      if (p === "/api/v1/nodes/7/enrollment-token" && req.method === "POST") {
        calls.push(p);
        return json({ enrollment_token: "dye_newtoken", enrollment_expires_at: new Date(Date.now() + 3_600_000).toISOString(), agent_command: "dockyard agent --server https://dy.example --token dye_newtoken" });
      }
      return undefined;
    });
    expect((await screen.findByTestId("node-pending-banner")).textContent).toContain("Waiting for the agent");
    expect(screen.getByTestId("node-engine-unknown")).toBeTruthy();
    expect(screen.queryByTestId("node-rotate")).toBeNull();
    expect(screen.queryByTestId("node-revoke")).toBeNull();
    expect(screen.queryByTestId("enrollment-token")).toBeNull();
    fireEvent.click(await screen.findByTestId("node-new-token"));
    fireEvent.click(await screen.findByTestId("confirm-submit"));
    const dialog = await screen.findByTestId("enrollment-dialog");
    expect(within(dialog).getByTestId("enrollment-command").textContent).toBe("dockyard agent --server https://dy.example --token dye_newtoken");
    expect(calls).toEqual(["/api/v1/nodes/7/enrollment-token"]);
  });

  it("an offline agent shows the banner; rotation while offline shows a new token", async () => {
    renderAt("/nodes/8", (req, p) => {
      if (p === "/api/v1/nodes/8") return json(offline);
      if (p === "/api/v1/services") return json({ items: [], total: 0, limit: 500, offset: 0 });
      if (p === "/api/v1/nodes/8/rotate-credentials" && req.method === "POST") return json({ delivered: false, enrollment_token: "dye_rotated", enrollment_expires_at: null });
      return undefined;
    });
    const banner = await screen.findByTestId("node-offline-banner");
    expect(banner.textContent).toContain("The agent was last seen 2 min ago; actions on this node fail until it reconnects");
    expect(screen.getByTestId("agent-remote-addr").textContent).toBe("10.0.0.8");
    fireEvent.click(await screen.findByTestId("node-rotate"));
    fireEvent.click(await screen.findByTestId("confirm-submit"));
    const dialog = await screen.findByTestId("enrollment-dialog");
    expect(within(dialog).getByTestId("enrollment-token").textContent).toBe("dye_rotated");
    expect(within(dialog).getByTestId("enrollment-command").textContent).toContain("--token dye_rotated");
  });

  it("an online agent shows its facts and no banner; read-only users get no actions", async () => {
    const connected = new Date(Date.now() - 125_000).toISOString();
    renderAt(
      "/nodes/8",
      (_req, p) => {
        if (p === "/api/v1/nodes/8") return json({ ...offline, status: "online", engine, agent: { ...offline.agent!, connected_at: connected, last_seen: new Date().toISOString() } });
        return undefined;
      },
      ["nodes:read"],
    );
    expect((await screen.findByTestId("node-status")).getAttribute("data-state")).toBe("online");
    expect(screen.getByTestId("agent-connected").textContent).toBe("2 min");
    expect(screen.getByTestId("agent-version").textContent).toBe("0.5.0");
    expect(screen.getByTestId("node-engine-card").textContent).toContain("27.3.1");
    expect(screen.queryByTestId("node-offline-banner")).toBeNull();
    expect(screen.queryByTestId("node-actions")).toBeNull();
    expect(screen.queryByTestId("labels-edit")).toBeNull();
    // Without services:read the services card is not shown (and not fetched).
    expect(screen.queryByTestId("node-services-card")).toBeNull();
  });

  it("an agent that enrolled but never connected says so", async () => {
    renderAt("/nodes/8", (_req, p) => {
      if (p === "/api/v1/nodes/8") return json({ ...offline, last_seen: null, agent: { ...offline.agent!, last_seen: null } });
      if (p === "/api/v1/services") return json({ items: [], total: 0, limit: 500, offset: 0 });
      return undefined;
    });
    expect((await screen.findByTestId("node-offline-banner")).textContent).toContain("enrolled but has not connected yet");
    expect(screen.getByText("Not seen yet")).toBeTruthy();
  });

  it("delete answers 409: the reason and the services stay in the dialog", async () => {
    renderAt("/nodes/8", (req, p) => {
      if (p === "/api/v1/nodes/8" && req.method === "DELETE") {
        return json({ error: { code: "node_in_use", message: "Node edge-8 still has 1 service.", details: { services: [{ id: 4, name: "web" }] } } }, 409);
      }
      if (p === "/api/v1/nodes/8") return json({ ...offline, status: "online", engine });
      if (p === "/api/v1/services") return json({ items: [], total: 0, limit: 500, offset: 0 });
      return undefined;
    });
    fireEvent.click(await screen.findByTestId("node-delete"));
    const confirm = await screen.findByTestId("confirm-dialog");
    const submit = within(confirm).getByTestId("confirm-submit") as HTMLButtonElement;
    expect(submit.disabled).toBe(true);
    fireEvent.change(within(confirm).getByTestId("confirm-input"), { target: { value: "edge-8" } });
    fireEvent.click(submit);
    const blocked = await within(confirm).findByTestId("node-delete-blocked");
    expect(blocked.textContent).toContain("still has 1 service");
    expect(within(blocked).getByRole("link", { name: "web" }).getAttribute("href")).toBe("/services/4");
  });

  it("edits labels with PATCH", async () => {
    const bodies: unknown[] = [];
    renderAt("/nodes/1", async (req, p) => {
      if (p === "/api/v1/nodes/1" && req.method === "PATCH") {
        bodies.push(await req.json());
        return json(node({ labels: { zone: "us" } }));
      }
      if (p === "/api/v1/nodes/1") return json(node({ labels: { zone: "eu" } }));
      if (p === "/api/v1/services") return json({ items: [], total: 0, limit: 500, offset: 0 });
      return undefined;
    });
    expect(await screen.findByText("zone=eu")).toBeTruthy();
    // The local node can't be deleted or revoked.
    expect(screen.queryByTestId("node-delete")).toBeNull();
    expect(screen.queryByTestId("node-revoke")).toBeNull();
    fireEvent.click(screen.getByTestId("labels-edit"));
    const dialog = await screen.findByTestId("edit-node-dialog");
    const labels = within(dialog).getByTestId("node-form-labels") as HTMLTextAreaElement;
    expect(labels.value).toBe("zone=eu");
    expect((within(dialog).getByTestId("edit-node-save") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.change(labels, { target: { value: "zone=us" } });
    fireEvent.click(within(dialog).getByTestId("edit-node-save"));
    await waitFor(() => expect(bodies).toEqual([{ labels: { zone: "us" } }]));
  });
});
