import { QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createQueryClient } from "@/api/queryClient";
import { describeSpec, type ScheduleOut } from "@/api/schedules";
import { TooltipProvider } from "@/components/ui/tooltip";
import { SchedulesCard } from "./SchedulesCard";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const schedule: ScheduleOut = {
  key: "service:5:update",
  job_kind: "service.scheduled_update",
  description: "Update check (auto) of service web",
  enabled: true,
  spec: { frequency: "weekly", time: "03:00", weekdays: ["mon", "fri"], timezone: "Europe/Berlin", cron: null, maintenance_window: null },
  params: { service_id: 5 },
  service_id: 5,
  node_id: 1,
  next_run_at: "2030-01-07T02:00:00Z",
  last_run_at: "2029-12-31T02:00:00Z",
  last_job_id: "abc",
  last_job_status: "succeeded",
  claimed_by: null,
  claimed_until: null,
};

function renderCard(permissions: string[], handler?: (req: Request) => Response) {
  const fetchMock = vi.fn(async (req: Request) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/v1/auth/me") return json({ id: 1, email: "a@b.c", permissions });
    if (handler) return handler(req);
    if (path === "/api/v1/schedules") return json({ items: [schedule] });
    return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
  });
  vi.stubGlobal("fetch", fetchMock);
  render(
    <QueryClientProvider client={createQueryClient()}>
      <TooltipProvider>
        <SchedulesCard />
      </TooltipProvider>
    </QueryClientProvider>,
  );
  return fetchMock;
}

describe("SchedulesCard", () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("lists schedules and runs one now", async () => {
    let ran = false;
    renderCard(["jobs:read", "services:update"], (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      if (path === "/api/v1/schedules") return json({ items: [schedule] });
      if (path === "/api/v1/schedules/service:5:update/run" && req.method === "POST") {
        ran = true;
        return json({ job: { id: "new", status: "queued" } }, 202);
      }
      return json({ error: { code: "not_found", message: "nope", details: {} } }, 404);
    });
    const row = await screen.findByTestId("schedule-row-service:5:update");
    expect(within(row).getByText("Update check (auto) of service web")).toBeTruthy();
    expect(within(row).getByText("Mon, Fri 03:00 Europe/Berlin")).toBeTruthy();
    expect(within(row).getByText("succeeded")).toBeTruthy();
    fireEvent.click(within(row).getByTestId("schedule-run-service:5:update"));
    await waitFor(() => expect(ran).toBe(true));
  });

  it("hides run now without services:update", async () => {
    renderCard(["jobs:read"]);
    const row = await screen.findByTestId("schedule-row-service:5:update");
    expect(within(row).queryByTestId("schedule-run-service:5:update")).toBeNull();
  });

  it("describes specs", () => {
    expect(describeSpec({ frequency: "daily", time: "04:00", timezone: "UTC" })).toBe("Daily 04:00 UTC");
    expect(describeSpec({ frequency: "cron", cron: "0 3 * * *", timezone: "UTC", maintenance_window: { start: "01:00", end: "05:00" } })).toBe(
      "cron 0 3 * * * UTC · window 01:00–05:00",
    );
  });
});
