import { describe, expect, it } from "vitest";
import { lastWeekRange } from "./CostCard";

describe("lastWeekRange", () => {
  it("covers the 7 whole UTC days ending with today", () => {
    const r = lastWeekRange(new Date("2026-11-22T05:30:00Z"));
    expect(r.until).toBe("2026-11-23T00:00:00.000Z");
    expect(r.since).toBe("2026-11-16T00:00:00.000Z");
  });
  it("rolls over month ends", () => {
    const r = lastWeekRange(new Date("2026-12-31T23:59:59Z"));
    expect(r.until).toBe("2027-01-01T00:00:00.000Z");
  });
});
