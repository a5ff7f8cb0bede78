import { describe, expect, it } from "vitest";
import { insertionIndex, resolveRange } from "./search";

describe("resolveRange", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  it("turns presets into an absolute UTC range", () => {
    expect(resolveRange("1h", { since: "", until: "" }, now)).toEqual({ since: "2026-01-01T11:00:00.000Z", until: "2026-01-01T12:00:00.000Z" });
  });
  it("validates custom ranges", () => {
    expect(resolveRange("custom", { since: "", until: "" }, now)).toHaveProperty("error");
    expect(resolveRange("custom", { since: "2026-01-01T12:00", until: "2026-01-01T11:00" }, now)).toHaveProperty("error");
    const ok = resolveRange("custom", { since: "2026-01-01T10:00", until: "" }, now);
    expect(ok).toHaveProperty("since");
    expect((ok as { until: string }).until).toBe("2026-01-01T12:00:00.000Z");
  });
});

describe("insertionIndex", () => {
  it("keeps results in time order, equal times in arrival order", () => {
    const rows = [{ ts: "2026-01-01T00:00:01Z" }, { ts: "2026-01-01T00:00:03Z" }];
    expect(insertionIndex(rows, "2026-01-01T00:00:02Z")).toBe(1);
    expect(insertionIndex(rows, "2026-01-01T00:00:03Z")).toBe(2);
    expect(insertionIndex(rows, null)).toBe(0);
    expect(insertionIndex([], "x")).toBe(0);
  });
});
