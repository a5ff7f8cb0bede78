import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { createMemoryRouter, RouterProvider } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import type { ServiceDetail } from "@/api/types";
import { TooltipProvider } from "@/components/ui/tooltip";
import { DefinitionTab, type DefinitionDraft } from "./DefinitionTab";

const YAML = "services:\n  web:\n    image: nginx:1.25\n";

const service: ServiceDetail = {
  id: 7,
  name: "web",
  description: "",
  node_id: 1,
  owner_id: 1,
  labels: {},
  status: "running",
  drift: false,
  drift_reasons: [],
  revision: 3,
  deployed_revision: 3,
  deployed_at: null,
  containers_running: 1,
  containers_total: 1,
  containers: [],
  images: [],
  ports: [],
  active_job: null,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
  definition: { services: { web: { image: "nginx:1.25" } } },
};

function Harness() {
  const [draft, setDraft] = useState<DefinitionDraft | null>(null);
  return <DefinitionTab service={service} draft={draft} setDraft={setDraft} />;
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function renderTab(onPut: (req: Request) => Promise<Response>) {
  const calls: Request[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      calls.push(req.clone());
      const { pathname } = new URL(req.url);
      if (pathname === "/api/v1/services/7/compose") return new Response(YAML, { headers: { "Content-Type": "application/yaml" } });
      if (pathname === "/api/v1/services/validate") return json({ valid: true, issues: [], definition: {} });
      if (pathname === "/api/v1/services/7" && req.method === "PUT") return onPut(req);
      return json({ error: { code: "not_found", message: "nope" } }, 404);
    }),
  );
  const router = createMemoryRouter([{ path: "/", element: <Harness /> }]);
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <RouterProvider router={router} />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return calls;
}

describe("DefinitionTab", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it("saves with If-Match of the revision the edit is based on", async () => {
    let put: Request | null = null;
    renderTab(async (req) => {
      put = req;
      return json({ ...service, revision: 4 });
    });
    const editor = (await screen.findByTestId("compose-editor")) as HTMLTextAreaElement;
    await waitFor(() => expect(editor.value).toBe(YAML));
    fireEvent.change(editor, { target: { value: YAML.replace("1.25", "1.27") } });
    fireEvent.change(screen.getByTestId("definition-comment"), { target: { value: "bump" } });
    fireEvent.click(screen.getByTestId("definition-save"));
    expect(await screen.findByTestId("definition-saved")).toHaveTextContent("Saved as revision 4");
    expect(put!.headers.get("if-match")).toBe('"rev-3"');
    expect(await put!.json()).toMatchObject({ compose: YAML.replace("1.25", "1.27"), comment: "bump", source: "ui" });
  });

  it("explains a stale edit and keeps the user's text", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    renderTab(async () =>
      json({ error: { code: "revision_conflict", message: "The service changed", details: { expected: 3, latest: 5 } } }, 409),
    );
    const editor = (await screen.findByTestId("compose-editor")) as HTMLTextAreaElement;
    await waitFor(() => expect(editor.value).toBe(YAML));
    const mine = YAML + "    restart: always\n";
    fireEvent.change(editor, { target: { value: mine } });
    fireEvent.click(screen.getByTestId("definition-save"));
    expect(await screen.findByTestId("conflict-dialog")).toHaveTextContent("Someone saved in between");
    expect(screen.getByTestId("conflict-dialog")).toHaveTextContent("revision 5");
    expect((screen.getByTestId("compose-editor") as HTMLTextAreaElement).value).toBe(mine);
  });

  it("edits the YAML through the form view", async () => {
    renderTab(async () => json(service));
    const editor = (await screen.findByTestId("compose-editor")) as HTMLTextAreaElement;
    await waitFor(() => expect(editor.value).toBe(YAML));
    fireEvent.mouseDown(screen.getByTestId("definition-view-form"));
    fireEvent.click(screen.getByTestId("definition-view-form"));
    const image = await screen.findByTestId("service-form-image");
    fireEvent.change(image, { target: { value: "nginx:1.27" } });
    fireEvent.mouseDown(screen.getByTestId("definition-view-yaml"));
    fireEvent.click(screen.getByTestId("definition-view-yaml"));
    expect(((await screen.findByTestId("compose-editor")) as HTMLTextAreaElement).value).toBe("services:\n  web:\n    image: nginx:1.27\n");
  });
});
