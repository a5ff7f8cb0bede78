import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { CleanupDialog } from "./CleanupDialog";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const PLAN = {
  plan_id: "p1",
  node_id: 1,
  dry_run: true,
  targets: ["dangling_images", "unused_volumes"],
  include_managed: false,
  label: null,
  items: [
    { target: "dangling_images", kind: "image", id: "sha256:aa", name: "<none> (aa)", size_bytes: 2048 },
    { target: "unused_volumes", kind: "volume", id: "old-data", name: "old-data", size_bytes: 1024 },
  ],
  count: 2,
  reclaimable_bytes: 3072,
  created_at: "2026-01-01T00:00:00Z",
};

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("CleanupDialog", () => {
  it("previews the chosen targets, then executes exactly that plan", async () => {
    const bodies: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const path = new URL(req.url).pathname;
        if (path === "/api/v1/nodes/1/cleanup") {
          const body = await req.json();
          bodies.push(body);
          if (body.dry_run) return json(PLAN);
          return json({ job: { id: "job1", kind: "images.cleanup", status: "queued" } }, 202);
        }
        if (path === "/api/v1/nodes/1/cleanup-policy")
          return json({ node_id: 1, enabled: false, targets: ["dangling_images"], include_managed: false, label: null, schedule: { frequency: "daily", time: "03:00", timezone: "UTC" }, next_run_at: null, updated_at: null });
        if (path === "/api/v1/jobs/job1")
          return json({
            id: "job1",
            kind: "images.cleanup",
            status: "succeeded",
            error: null,
            lines: [{ seq: 1, ts: "2026-01-01T00:00:00Z", level: "info", message: "Removed image <none> (aa)" }],
            result: { plan_id: "p1", removed: 1, skipped: 1, failed: 0, reclaimed_bytes: 2048, items: [
              { ...PLAN.items[0], result: "removed", reclaimed_bytes: 2048 },
              { ...PLAN.items[1], result: "skipped", reason: "it is used by container x now", reclaimed_bytes: 0 },
            ] },
          });
        return json({ error: { code: "not_found", message: "nope" } }, 404);
      }),
    );
    render(
      <QueryClientProvider client={createQueryClient()}>
        <CleanupDialog nodeId={1} nodeName="vm" open onOpenChange={() => {}} />
      </QueryClientProvider>,
    );
    fireEvent.click(screen.getByTestId("target-stopped_containers"));
    fireEvent.click(screen.getByTestId("target-build_cache"));
    fireEvent.click(screen.getByTestId("target-unused_volumes"));
    fireEvent.click(screen.getByTestId("cleanup-preview"));
    expect(await screen.findByTestId("cleanup-summary")).toHaveTextContent("2 items · 3.0 KiB reclaimable");
    expect(bodies[0]).toEqual({ dry_run: true, targets: ["dangling_images", "unused_volumes"], include_managed: false });
    expect(screen.getAllByTestId("cleanup-item").map((li) => li.textContent)).toEqual(["<none> (aa)2.0 KiB", "old-data1.0 KiB"]);

    fireEvent.click(screen.getByTestId("cleanup-execute"));
    await waitFor(() => expect(bodies[1]).toEqual({ dry_run: false, plan_id: "p1", include_managed: false }));
    expect(await screen.findByTestId("cleanup-result")).toHaveTextContent("Removed 1, skipped 1 · 2.0 KiB reclaimed");
    expect(screen.getByTestId("cleanup-result")).toHaveTextContent("it is used by container x now");
  });
});
