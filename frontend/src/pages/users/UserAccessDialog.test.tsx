import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { UserOut } from "@/api/users";
import { UserAccessDialog } from "./UserAccessDialog";

const json = (body: unknown, status = 200) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const USER = {
  id: 5,
  email: "tess@example.com",
  display_name: "Tess",
  role: "user",
  is_active: true,
  last_login_at: null,
  created_at: "2025-01-01T00:00:00Z",
} as UserOut;
const NONE = { max_services: null, max_containers: null, max_cpus: null, max_memory_bytes: null, max_gpus: null, default_cpus: null, default_memory: null, default_pids: null };
const DEFAULTS = { max_services: 10, max_containers: 20, max_cpus: 4, max_memory_bytes: 8 * 1024 ** 3, max_gpus: 0, default_cpus: 1, default_memory: 512 * 1024 ** 2, default_pids: 512 };
const QUOTA = {
  user_id: 5,
  custom: false,
  ...DEFAULTS,
  usage: { services: 2, containers: 2, cpus: 2, memory_bytes: 1024 ** 3, gpus: 0 },
  own: NONE,
  defaults: DEFAULTS,
};

function renderDialog() {
  const calls: { method: string; path: string; body: unknown }[] = [];
  let grants = [{ id: 9, user_id: 5, role: "viewer", scope_type: "service", scope_id: 3, scope_name: "shop", created_at: "2025-01-01T00:00:00Z" }];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      const text = req.method === "GET" || req.method === "DELETE" ? "" : await req.text();
      const body: unknown = text ? JSON.parse(text) : null;
      calls.push({ method: req.method, path, body });
      if (path === "/api/v1/users/5/grants" && req.method === "GET") return json({ items: grants });
      if (path === "/api/v1/users/5/grants" && req.method === "POST") {
        const g = { id: 10, user_id: 5, ...(body as object), scope_name: "local", created_at: "2025-01-02T00:00:00Z" };
        grants = [...grants, g as (typeof grants)[number]];
        return json(g, 201);
      }
      if (path === "/api/v1/users/5/grants/9" && req.method === "DELETE") {
        grants = grants.filter((g) => g.id !== 9);
        return json(null, 204);
      }
      if (path === "/api/v1/roles") return json({ items: ["admin", "operator", "viewer", "user"].map((name) => ({ name })) });
      if (path === "/api/v1/nodes") return json({ items: [{ id: 1, name: "local", kind: "local" }], total: 1, limit: 200, offset: 0 });
      if (path === "/api/v1/services") return json({ items: [{ id: 3, name: "shop", node_id: 1 }], total: 1, limit: 500, offset: 0 });
      if (path === "/api/v1/users/5/quota" && req.method === "GET") return json(QUOTA);
      if (path === "/api/v1/users/5/quota" && req.method === "PUT") return json({ ...QUOTA, custom: true, max_services: 3, own: { ...NONE, max_services: 3 } });
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    }),
  );
  render(
    <QueryClientProvider client={createQueryClient()}>
      <UserAccessDialog user={USER} canManage onOpenChange={() => undefined} />
    </QueryClientProvider>,
  );
  return calls;
}

describe("UserAccessDialog", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it("lists, adds and removes grants", async () => {
    const calls = renderDialog();
    const dialog = await screen.findByTestId("user-access-dialog");
    expect(await within(dialog).findByTestId("grant-row")).toHaveTextContent("vieweron service shop");
    fireEvent.change(within(dialog).getByTestId("grant-role"), { target: { value: "operator" } });
    fireEvent.change(within(dialog).getByTestId("grant-scope-type"), { target: { value: "node" } });
    const target = within(dialog).getByTestId("grant-target");
    await waitFor(() => expect(within(target).getByText("local")).toBeInTheDocument());
    expect(within(dialog).getByTestId("grant-add")).toBeDisabled();
    fireEvent.change(target, { target: { value: "1" } });
    fireEvent.click(within(dialog).getByTestId("grant-add"));
    await waitFor(() => expect(within(dialog).getAllByTestId("grant-row")).toHaveLength(2));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ role: "operator", scope_type: "node", scope_id: 1 });
    fireEvent.click(within(dialog).getAllByTestId("grant-remove")[0]!);
    await waitFor(() => expect(within(dialog).getAllByTestId("grant-row")).toHaveLength(1));
    expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/v1/users/5/grants/9")).toBe(true);
  });

  it("shows usage and saves only the fields that were set", async () => {
    const calls = renderDialog();
    const dialog = await screen.findByTestId("user-access-dialog");
    // Radix tabs switch on mouse down.
    fireEvent.mouseDown(within(dialog).getByTestId("access-tab-quota"), { button: 0 });
    const services = await within(dialog).findByText("2 of 10");
    expect(services).toBeInTheDocument();
    const max = within(dialog).getByTestId("quota-max_services");
    expect(max).toHaveAttribute("placeholder", "default: 10");
    fireEvent.change(max, { target: { value: "3" } });
    fireEvent.click(within(dialog).getByTestId("quota-save"));
    await waitFor(() => expect(within(dialog).getByText("2 of 3")).toBeInTheDocument());
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ ...NONE, max_services: 3 });
  });
});
