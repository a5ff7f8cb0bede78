import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { HostOut } from "@/api/hosts";
import { TooltipProvider } from "@/components/ui/tooltip";
import { HostsPage } from "./HostsPage";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const host: HostOut = {
  id: 7,
  hostname: "web-1.example.com",
  address: "10.0.0.11",
  ssh_port: 22,
  ssh_user: "deploy",
  bastion: null,
  environment: "prod",
  tags: ["web"],
  notes: "",
  owner_id: 1,
  node_id: null,
  ssh_template: null,
  artifact_count: 0,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

const me = { id: 1, email: "admin@example.com", role: "admin", permissions: ["hosts:read", "hosts:manage", "hosts:ssh", "artifacts:read"], sees_all_services: true };

function renderPage(handler: (req: Request) => Promise<Response> | Response) {
  const fetchMock = vi.fn(async (req: Request) => {
    if (new URL(req.url).pathname === "/api/v1/auth/me") return json(me);
    return handler(req);
  });
  vi.stubGlobal("fetch", fetchMock);
  const router = createMemoryRouter([{ path: "/hosts", element: <HostsPage /> }], { initialEntries: ["/hosts"] });
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return fetchMock;
}

const HEADER = "hostname,address,ssh_port,ssh_user,bastion,environment,tags,notes\n";

describe("HostsPage CSV import", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("refuses a wrong header before sending, then previews a dry run and imports", async () => {
    const imports: { dryRun: string | null; type: string | null; body: string }[] = [];
    renderPage(async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/api/v1/hosts/import") {
        imports.push({ dryRun: url.searchParams.get("dry_run"), type: req.headers.get("content-type"), body: await req.text() });
        const dry = url.searchParams.get("dry_run") === "true";
        return json({
          created: 1,
          updated: 1,
          errors: [
            { row: 4, field: "address", message: "address is not a valid IP address" },
            { row: 4, field: "ssh_port", message: "ssh_port must be a whole number from 1 to 65535" },
          ],
          error_count: 2,
          dry_run: dry,
        });
      }
      if (url.pathname === "/api/v1/hosts/facets") return json({ environments: ["prod"], tags: ["web"] });
      if (url.pathname === "/api/v1/hosts") return json({ items: [host], total: 1, limit: 50, offset: 0 });
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    expect(await screen.findByTestId("host-row")).toBeTruthy();
    fireEvent.click(screen.getByTestId("hosts-import"));
    const dialog = await screen.findByTestId("import-dialog");
    const input = within(dialog).getByTestId("import-file");

    fireEvent.change(input, { target: { files: [new File(["hostname,addr\n"], "bad.csv", { type: "text/csv" })] } });
    const headerError = await within(dialog).findByTestId("import-header-error");
    expect(headerError.textContent).toContain("missing address");
    expect(headerError.textContent).toContain("unknown addr");
    expect(imports).toHaveLength(0);

    const csv = HEADER + "a.example.com,10.0.0.1,,,,,,\nb.example.com,10.0.0.2,,,,,,\nc.example.com,300.0.0.1,99999,,,,,\n";
    fireEvent.change(input, { target: { files: [new File([csv], "hosts.csv", { type: "text/csv" })] } });
    await within(dialog).findByTestId("import-preview");
    expect(imports[0]).toEqual({ dryRun: "true", type: "text/csv", body: csv });
    expect(within(dialog).getByTestId("import-errors").textContent).toBe("1 row with errors");
    const rows = within(dialog).getAllByTestId("import-error-row");
    expect(rows).toHaveLength(2);
    expect(rows[0]?.textContent).toContain("4");
    expect(rows[1]?.textContent).toContain("ssh_port");

    fireEvent.click(within(dialog).getByTestId("import-commit"));
    await waitFor(() => expect(imports).toHaveLength(2));
    expect(imports[1]?.dryRun).toBe("false");
    await waitFor(() => expect(screen.queryByTestId("import-dialog")).toBeNull());
  });
});
