import { describe, expect, it } from "vitest";
import { analyticsCsvUrl, formatCost, lastDays } from "./mcp";
import { parseHeaders } from "@/pages/mcp/McpServerDialog";

describe("mcp helpers", () => {
  it("ends the range at the next whole UTC hour", () => {
    const r = lastDays(7, Date.parse("2026-03-10T09:25:00Z"));
    expect(r.until).toBe("2026-03-10T10:00:00.000Z");
    expect(r.since).toBe("2026-03-03T10:00:00.000Z");
  });

  it("builds the CSV export URL with the range and server", () => {
    const url = analyticsCsvUrl("tools", { since: "2026-03-01T00:00:00Z", until: "2026-03-02T00:00:00Z", mcp_server_id: 4 });
    expect(url).toBe("/api/v1/analytics/tools?since=2026-03-01T00%3A00%3A00Z&until=2026-03-02T00%3A00%3A00Z&format=csv&mcp_server_id=4");
  });

  it("parses header lines and formats cost", () => {
    expect(parseHeaders("Authorization: Bearer a:b\n\nX-Key:  v \nbroken")).toEqual({ Authorization: "Bearer a:b", "X-Key": "v" });
    expect(formatCost(0.00421)).toBe("$0.0042");
    expect(formatCost(12.5)).toBe("$12.50");
    expect(formatCost(null)).toBe("—");
  });
});
