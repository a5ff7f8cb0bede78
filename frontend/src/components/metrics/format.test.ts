import { describe, expect, it } from "vitest";
import { evenTicks, timeDomain, formatDuration, formatPercent, formatRate, percentOf, pollIntervalMs, tickLabel, tierLabel, toRows } from "./format";

describe("metrics format", () => {
  it("labels axis ticks per range", () => {
    const ts = new Date(2026, 10, 18, 9, 5).toISOString();
    expect(tickLabel(ts, "1h")).toBe("09:05");
    expect(tickLabel(ts, "24h")).toBe("09:05");
    expect(tickLabel(ts, "7d")).toBe("11-18 09:05");
    expect(tickLabel(ts, "30d")).toBe("11-18");
    expect(tickLabel("nope", "1h")).toBe("");
  });

  it("describes the tier and resolution", () => {
    expect(tierLabel("raw", 10)).toBe("raw samples, 10 s points");
    expect(tierLabel("1m", 1800)).toBe("1-minute averages, 30 min points");
    expect(tierLabel("1h", 21600)).toBe("1-hour averages, 6 h points");
    expect(formatDuration(86400)).toBe("1 d");
  });

  it("converts units", () => {
    expect(formatRate(512)).toBe("512 B/s");
    expect(formatRate(1536)).toBe("1.5 KiB/s");
    expect(formatRate(null)).toBe("—");
    expect(formatPercent(5.25)).toBe("5.3%");
    expect(formatPercent(55.4)).toBe("55%");
    expect(formatPercent(undefined)).toBe("—");
    expect(percentOf(2, 8)).toBe(25);
    expect(percentOf(2, 0)).toBe(0);
  });

  it("polls short ranges more often", () => {
    expect(pollIntervalMs("1h")).toBeLessThan(pollIntervalMs("24h"));
    expect(pollIntervalMs("30d")).toBe(300_000);
  });

  it("builds chart rows with epoch ms", () => {
    const rows = toRows([{ ts: "2026-11-18T10:00:00Z", used: 2, total: 8 }], {
      mem: (p) => percentOf(p.used, p.total),
    });
    expect(rows).toEqual([{ ts: Date.parse("2026-11-18T10:00:00Z"), mem: 25 }]);
  });
});

describe("timeDomain", () => {
  it("spans from the series start to now", () => {
    const now = Date.parse("2026-11-18T11:00:00Z");
    expect(timeDomain("2026-11-18T10:00:00Z", [{ ts: now - 5000 }], now)).toEqual([now - 3_600_000, now]);
    expect(timeDomain(undefined, [{ ts: now - 10 }, { ts: now + 10 }], now)).toEqual([now - 10, now + 10]);
    expect(timeDomain(undefined, [], now)).toEqual([now, now]);
  });
});

describe("evenTicks", () => {
  it("spreads ticks over the domain", () => {
    expect(evenTicks([0, 100], 5)).toEqual([0, 25, 50, 75, 100]);
    expect(evenTicks([5, 5])).toEqual([5]);
  });
});
