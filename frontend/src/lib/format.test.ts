import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatDateTime, formatRelative, formatUtc, orDash, replicaLabel } from "./format";

describe("formatBytes", () => {
  it.each<[number | null | undefined, string]>([
    [null, "—"],
    [undefined, "—"],
    [-1, "—"],
    [Number.NaN, "—"],
    [0, "0 B"],
    [512, "512 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [8_369_000_000, "7.8 GiB"],
    [16 * 1024 ** 3, "16.0 GiB"],
    [256 * 1024 ** 3, "256 GiB"],
    [1024 ** 4, "1.0 TiB"],
    [1024 ** 2 * 1023.99, "1.0 GiB"],
  ])("%s -> %s", (input, expected) => {
    expect(formatBytes(input)).toBe(expected);
  });
});

describe("other formatters", () => {
  it("formats counts and placeholders", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(null)).toBe("—");
    expect(orDash(null)).toBe("—");
    expect(orDash("")).toBe("—");
    expect(orDash(0)).toBe("0");
  });

  it("renders local time (test TZ is Europe/Berlin) and full UTC ISO", () => {
    expect(formatDateTime("2025-01-15T12:00:05Z")).toBe("2025-01-15 13:00:05");
    expect(formatDateTime("2025-07-15T12:00:05Z")).toBe("2025-07-15 14:00:05");
    expect(formatUtc("2025-01-15T13:00:05+01:00")).toBe("2025-01-15T12:00:05.000Z");
    expect(formatDateTime(null)).toBe("—");
  });

  it("renders relative times", () => {
    const now = Date.parse("2025-01-15T12:00:00Z");
    expect(formatRelative("2025-01-15T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2025-01-15T11:55:00Z", now)).toBe("5 min ago");
    expect(formatRelative("2025-01-15T09:00:00Z", now)).toBe("3 h ago");
    expect(formatRelative("2025-01-13T12:00:00Z", now)).toBe("2 d ago");
    expect(formatRelative(null, now)).toBe("never");
  });
});

describe("replicaLabel", () => {
  it("shows a replica as host:pid", () => {
    expect(replicaLabel("server@web-1:4242:ab12cd34")).toBe("web-1:4242");
    expect(replicaLabel("odd-id")).toBe("odd-id");
    expect(replicaLabel(null)).toBe("—");
    expect(replicaLabel("")).toBe("—");
  });
});
